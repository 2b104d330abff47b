/**
 * EngineOptions: everything fulcrum's HTTP/1.1 engine reads from the config, built once per
 * config generation (engineOptions) and swapped whole on reload (Listener.configure): connections
 * read the current object at each request, so a reload applies from the next request on.
 */
import type { Config } from '../../config/schema.js';
import type { RequestLimits } from './http1-parser.js';

export interface EngineOptions {
  /** limits.maxUrlBytes, maxHeaders, maxHeaderBytes, maxBodyBytes; CONNECT handling */
  readonly limits: RequestLimits;
  /** timeouts.headerMs: a request head must be complete this long after its first byte (and a new connection must send one within it) */
  readonly headerMs: number;
  /** timeouts.keepAliveMs: idle time allowed between requests */
  readonly keepAliveMs: number;
  /**
   * Requests parsed ahead of the one being answered (pipelining). Beyond it the socket is not
   * read until a response completes (16: nginx parses one ahead at a time, but a client that
   * pipelines sends a handful; the queue costs one exchange object each).
   */
  readonly pipelineDepth: number;
  /**
   * Request body bytes the engine reads and drops after a response that did not read the whole
   * body, to keep the connection (1 MiB, about what a client sends in the time nginx lingers);
   * a larger remainder closes the connection after the response.
   */
  readonly discardBodyBytes: number;
  /** after the last response on a closing connection, how long unread client bytes are still drained before the socket is destroyed (nginx lingering_timeout: 5 s) */
  readonly lingerMs: number;
  /** the body of an answer the engine writes itself (400, 408, 413, 414, 431, 505...); null: "400 Bad Request\n" as text/plain */
  readonly errorPage: ((status: number) => { type: string; body: string | Buffer } | undefined) | null;
}

export const ENGINE_DEFAULTS: EngineOptions = {
  limits: { maxUrlBytes: 8192, maxHeaders: 100, maxHeaderBytes: 16384, maxBodyBytes: 10485760, connect: false },
  headerMs: 10000,
  keepAliveMs: 60000,
  pipelineDepth: 16,
  discardBodyBytes: 1048576,
  lingerMs: 5000,
  errorPage: null,
};

/** engineOptions builds the engine's options from a validated config. */
export function engineOptions(config: Config, errorPage: EngineOptions['errorPage'] = null): EngineOptions {
  const l = config.limits;
  return {
    ...ENGINE_DEFAULTS,
    limits: { maxUrlBytes: l.maxUrlBytes, maxHeaders: l.maxHeaders, maxHeaderBytes: l.maxHeaderBytes, maxBodyBytes: l.maxBodyBytes, connect: false },
    headerMs: config.timeouts.headerMs,
    keepAliveMs: config.timeouts.keepAliveMs,
    errorPage,
  };
}
