/**
 * H2Options: everything the HTTP/2 front reads from the config (the "http2" section and the
 * engine's limits and timeouts), built once per config generation (h2Options) and read by each
 * new connection: a reload applies to connections opened after it.
 *
 * The node:http2 session options set here are node's own defences, sized from the config:
 * - settings.maxConcurrentStreams (SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113 6.5.2): streams
 *   beyond it are refused by nghttp2 with REFUSED_STREAM; maxSessionRejectedStreams of those
 *   (node's default 100) close the connection.
 * - settings.maxHeaderListSize and maxHeaderListPairs bound a header block, decompressed: node
 *   resets a stream over either (ENHANCE_YOUR_CALM) while decoding, so no header list grows past
 *   them. nghttp2 (1.61 in Node 20) also closes a connection after 8 CONTINUATION frames in one
 *   header block (the CONTINUATION flood, CVE-2024-27316 class).
 * - maxSessionInvalidFrames: invalid frames tolerated before the connection is closed.
 * - maxSettings: entries per SETTINGS frame; maxOutstandingPings: our own unanswered PINGs (we
 *   send none).
 * - enablePush false (no server push); enableConnectProtocol from http2.webSockets (RFC 8441
 *   WebSockets over HTTP/2: SETTINGS_ENABLE_CONNECT_PROTOCOL, and nghttp2 accepts `:protocol`).
 * nghttp2 itself also ends a session whose peer makes it queue more than 1000 control frames
 * (PING and SETTINGS acknowledgements, RST_STREAM) without reading them. What node has no
 * option for (a rate limit on resets, PINGs and SETTINGS from a client that does read) is
 * h2-session.ts's token buckets.
 */
import type http2 from 'node:http2';
import type { Config } from '../../config/schema.js';
import { ENGINE_DEFAULTS, type EngineOptions } from '../engine/engine-options.js';

export interface H2Options {
  /** http2.implementation: node:http2 (h2-session.ts) or fulcrum's own frame layer (conn.ts) */
  readonly implementation: 'node' | 'fulcrum';
  /** SETTINGS_MAX_CONCURRENT_STREAMS and SETTINGS_MAX_HEADER_LIST_SIZE, for conn.ts (node's are in `session`) */
  readonly maxConcurrentStreams: number;
  readonly maxHeaderListBytes: number;
  /** http2.webSockets: SETTINGS_ENABLE_CONNECT_PROTOCOL announced, extended CONNECT accepted (RFC 8441) */
  readonly webSockets: boolean;
  /** how long a client has to acknowledge our SETTINGS on conn.ts (RFC 9113 6.5.3), 10 s; not a config key */
  readonly settingsAckMs: number;
  /** the engine's limits, timeouts and error pages, shared with HTTP/1.1 */
  readonly engine: EngineOptions;
  /** node:http2 session options (performServerHandshake) */
  readonly session: http2.ServerSessionOptions;
  readonly resetBurst: number;
  readonly resetRatePerSecond: number;
  readonly controlFrameBurst: number;
  readonly controlFrameRatePerSecond: number;
}

/** pseudo-header fields a request may carry besides its own fields (:method, :scheme, :authority, :path) */
const PSEUDO_FIELDS = 4;

function build(engine: EngineOptions, h: Config['http2']): H2Options {
  return {
    implementation: h.implementation,
    maxConcurrentStreams: h.maxConcurrentStreams,
    maxHeaderListBytes: h.maxHeaderListBytes,
    webSockets: h.webSockets,
    settingsAckMs: 10_000,
    engine,
    session: {
      settings: {
        maxConcurrentStreams: h.maxConcurrentStreams,
        maxHeaderListSize: h.maxHeaderListBytes,
        enablePush: false,
        enableConnectProtocol: h.webSockets,
      },
      maxHeaderListPairs: engine.limits.maxHeaders + PSEUDO_FIELDS,
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      maxSettings: 32,
      maxOutstandingPings: 10,
    },
    resetBurst: h.resetBurst,
    resetRatePerSecond: h.resetRatePerSecond,
    controlFrameBurst: h.controlFrameBurst,
    controlFrameRatePerSecond: h.controlFrameRatePerSecond,
  };
}

/** H2_DEFAULTS: the schema's defaults over the engine's (for tests and embedders). */
export const H2_DEFAULTS: H2Options = build(ENGINE_DEFAULTS, {
  implementation: 'fulcrum',
  maxConcurrentStreams: 128,
  maxHeaderListBytes: 32768,
  webSockets: true,
  resetBurst: 200,
  resetRatePerSecond: 50,
  controlFrameBurst: 100,
  controlFrameRatePerSecond: 20,
});

/** h2Options builds the HTTP/2 front's options from a validated config and the engine's options of the same generation. */
export function h2Options(config: Config, engine: EngineOptions): H2Options {
  return build(engine, config.http2);
}
