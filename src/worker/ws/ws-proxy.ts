/**
 * WebSocket proxying: a client's upgrade is routed and balanced like an HTTP request, fulcrum
 * opens the upstream WebSocket first, and only when the server has said 101 does it accept the
 * client's upgrade, with the subprotocol the server chose. A refusal (any other status) reaches
 * the client as that status, with the server's body when it is small.
 *
 * Once both hops are open, a WsRelay moves whole messages both ways (uWS and the `ws` client both
 * reassemble fragments), text as text and binary as binary, and relays close codes and reasons.
 * Each hop keeps itself alive: uWS pings a quiet client, a worker-wide sweep pings a quiet server,
 * and either side that stays silent past websocket.idleTimeoutMs is closed.
 *
 * Back-pressure:
 *   server -> client: when uWS holds more than HIGH_WATER bytes for a slow client, the upstream
 *                     socket is paused until uWS drains below LOW_WATER. The server then blocks
 *                     on its own TCP window; fulcrum holds about HIGH_WATER plus one read.
 *   client -> server: uWS 20.30 cannot pause a WebSocket's reads, so a client that writes faster
 *                     than the server reads is bounded by websocket.maxBufferedBytes instead.
 *   Past websocket.maxBufferedBytes in either direction the connection is closed with 1013.
 *
 * A WebSocket counts as one request in flight (for least-connections and for the worker's
 * drain) from the upgrade until both hops are closed.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type WebSocketType from 'ws';
import type { Config } from '../../config/schema.js';
import type { LoadedConfig } from '../../config/load.js';
import { ERRORS, type ErrorKind } from '../../errors.js';
import { log } from '../../log.js';
import { STATUS_LINES } from '../../net/http-status.js';
import type { SocketContext, UwsWebSocket } from '../../uws.js';
import type { ClientHandler, ClientPeer } from '../engine/exchange.js';
import type { UwsExchange } from '../engine/uws-exchange.js';
import { releaseClient } from '../guard/client-limiter.js';
import { respondGenerated, type HeaderSink, type HeaderWriter } from '../guard/edge-response.js';
import type { EdgeLimits } from '../guard/limits.js';
import type { ResponsePolicy } from '../guard/response-policy.js';
import { requestFinished, requestStarted } from '../obs/activity.js';
import { counter, gauge } from '../obs/metrics.js';
import { requestId } from '../obs/request-id.js';
import { BodyMode, buildHeadFor, type HeadInfo } from '../proxy/head.js';
import { selectServer, type Selection } from '../proxy/select.js';
import { openTunnels } from '../proxy/tunnel-relay.js';
import type { RouteTarget } from '../router.js';
import type { ServerState } from '../upstream/server-state.js';
import type { Upstream } from '../upstream/upstream.js';
import { closeCodeSendable, countClosed, isTooBig } from './ws-close.js';
import { downstreamHeaders, subprotocols, upstreamHeaders } from './ws-headers.js';

export type WebSocketSettings = Config['websocket'];

// The `ws` client is loaded on the first upgrade, not at start: ~3 MiB of memory in every worker
// that never proxies a WebSocket. It is CommonJS, so a synchronous require works inside the uWS
// handler (the first upgrade of a worker pays a few milliseconds).
type WebSocket = WebSocketType;
let WebSocketClass: typeof WebSocketType | null = null;
function wsClient(): typeof WebSocketType {
  return (WebSocketClass ??= createRequire(import.meta.url)('ws') as typeof WebSocketType);
}
const WS_OPEN = 1;
const WS_CONNECTING = 0;

/** What the WebSocket proxy reads from the worker's current runtime (swapped on reload). */
export interface WsRuntime {
  readonly cfg: LoadedConfig;
  readonly limits: EdgeLimits;
  readonly responses: ResponsePolicy;
}

/** uWS user data of a proxied WebSocket */
export interface WsUserData {
  relay: WsRelay;
}

// metrics (merged by the primary into GET /metrics; fulcrum_websockets_open is a gauge, below)
const opened = counter('fulcrum_websockets_opened_total', 'WebSocket connections accepted (both hops open).').labels();
const refused = counter(
  'fulcrum_websocket_upgrades_refused_total',
  'WebSocket upgrades answered with an HTTP status instead (server refusal, no server, bad handshake).',
).labels();
const bytesFamily = counter('fulcrum_websocket_bytes_total', 'WebSocket message payload bytes relayed.', ['direction']);
const bytesFromClients = bytesFamily.labels('from_client');
const bytesToClients = bytesFamily.labels('to_client');
/** uWS buffers more than this for a client: pause the server's socket */
const HIGH_WATER = 256 * 1024;
/** ... and resume it when uWS is down to this */
const LOW_WATER = 64 * 1024;
/** a refusal body larger than this is replaced by fulcrum's own short body */
const REFUSAL_BODY_LIMIT = 64 * 1024;
/** uWS send() result: message dropped because maxBackpressure was exceeded */
const SEND_DROPPED = 2;

const BINARY = { binary: true };
const TEXT = { binary: false };

const headInfo: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };

/** relays whose client hop is open: swept for idle servers, closed with 1001 at shutdown */
const live = new Set<WsRelay>();
// the uWS relays' and fulcrum's engine's tunnels (proxy/tunnel-relay.ts) together: this module is
// always loaded (worker.ts), and the import runs ws/ -> proxy/ as its others do
gauge('fulcrum_websockets_open', 'WebSocket connections open (client hop).', [], (emit) => emit([], live.size + openTunnels()));
let tick = 0;
let sweeper: NodeJS.Timeout | null = null;

/** the field a 426 adds (RFC 6455 4.4) */
const VERSION_13: HeaderWriter = {
  writeHeaders(out: HeaderSink): void {
    out.writeHeader('Sec-WebSocket-Version', '13');
  },
};

export class WsRelay implements ClientHandler, Selection {
  readonly seq: number;
  /** the client's upgrade request, until it is answered */
  private ex: UwsExchange | null;
  private client: UwsWebSocket<WsUserData> | null = null;
  private up: WebSocket | null = null;
  private server: ServerState | null = null;
  private key = '';
  private context: SocketContext | null = null;
  /** the client got its answer: the upgrade, or an HTTP status */
  private answered = false;
  /** the client hop is closed (or the client left before its answer) */
  private clientDone = false;
  /** fulcrum itself is closing the client hop: its close handler must not echo upstream */
  private closingClient = false;
  /** the upstream WebSocket emitted 'close' (or was never created) */
  private upstreamDone = false;
  private finished = false;
  private upstreamPaused = false;
  /** headers of the server's 101 to relay (Set-Cookie...) */
  private upgradeHeaders: string[] | null = null;
  /** the sticky-session cookie to set ("" when none) */
  setCookie = '';
  /** the subprotocol the server chose ('' for none) */
  private protocol = '';
  /** server messages that arrived before the client's open handler ran */
  private early: { data: Buffer; binary: boolean }[] | null = null;
  /** the per-client limit's key to release at the end, or null */
  clientKey: ClientPeer | null = null;
  /** the sweep tick of the last frame from the server */
  rxTick = tick;
  // Selection (select.ts)
  clientIp = '';
  hashKey = '';
  stickyKey = '';

  constructor(
    ex: UwsExchange,
    private readonly rt: WsRuntime,
    private readonly settings: WebSocketSettings,
    private readonly route: RouteTarget,
    private readonly upstream: Upstream,
  ) {
    this.ex = ex;
    this.seq = ex.seq;
  }

  /** start runs inside the uWS upgrade handler. */
  start(context: SocketContext): void {
    const ex = this.ex!;
    ex.handler = this;
    requestStarted();
    const target = ex.target;
    this.key = ex.field('sec-websocket-key');
    this.context = context;
    const version = ex.field('sec-websocket-version');
    const offered = subprotocols(ex.field('sec-websocket-protocol'));
    this.clientIp = ex.peer.ip;
    // the same pick as HTTP (policy, hash key, sticky session); WebSockets do not wait in the
    // maxConnections queue: a client would rather hear 503 than hang in its handshake
    const server = selectServer(this.upstream, ex, target, this, false);
    const limits = this.rt.limits;
    buildHeadFor(ex, 'GET', target, this.upstream, server ? server.spec.hostPort : '', limits, null, headInfo);
    if (version !== '13') return this.respondError('upgrade-required', 'unsupported Sec-WebSocket-Version', VERSION_13);
    if (this.key.length !== 24) return this.respondError('invalid-handshake', 'invalid Sec-WebSocket-Key');
    if (headInfo.reject !== null) return this.respondError(headInfo.rejectKind, headInfo.reject);
    if (headInfo.bodyMode !== BodyMode.None) return this.respondError('invalid-handshake', 'a WebSocket handshake has no body');
    if (!server) return this.respondError('no-server', ERRORS['no-server'].log);
    this.server = server;
    server.countStart();
    const t = this.rt.cfg.raw.timeouts;
    let up: WebSocket;
    try {
      up = new (wsClient())(`ws://${server.spec.hostPort}/`, offered, {
        headers: upstreamHeaders(headInfo.head),
        perMessageDeflate: false,
        followRedirects: false,
        maxPayload: this.settings.maxMessageBytes,
        handshakeTimeout: t.upstreamConnectMs + t.upstreamResponseMs,
        skipUTF8Validation: true,
        // the path goes upstream exactly as the client sent it (a URL would normalise it)
        finishRequest: (r) => {
          r.path = target;
          r.end();
        },
      });
    } catch (err) {
      // invalid subprotocol offers or header values the HTTP client refuses
      return this.respondError('invalid-handshake', `invalid WebSocket handshake: ${(err as Error).message}`);
    }
    this.up = up;
    up.on('upgrade', (r: IncomingMessage) => {
      const h = downstreamHeaders(r.rawHeaders);
      if (h.length) this.upgradeHeaders = h;
      // RFC 6455 lets a server pick no subprotocol; the `ws` client would fail such a handshake,
      // so it is shown the first offer while the client gets the server's real answer (none)
      const chosen = r.headers['sec-websocket-protocol'];
      if (chosen === undefined && offered.length) r.headers['sec-websocket-protocol'] = offered[0];
      else this.protocol = chosen ?? '';
    });
    up.on('open', () => this.onUpstreamOpen());
    up.on('unexpected-response', (_req, r: IncomingMessage) => this.onUpstreamRefused(r));
    up.on('error', (err: Error) => this.onUpstreamError(err));
    up.on('close', (code: number, reason: Buffer) => this.onUpstreamClose(code, reason));
    up.on('message', (data: Buffer, isBinary: boolean) => this.onUpstreamMessage(data, isBinary));
    up.on('ping', () => (this.rxTick = tick));
    up.on('pong', () => (this.rxTick = tick));
  }

  // ---- handshake ----------------------------------------------------------------------------

  /** onClientAborted: the client left before it got an answer. */
  onClientAborted(): void {
    this.ex = null;
    this.endHandshake();
  }

  onClientWritable(): void {}
  onClientBody(): void {}

  /** endHandshake ends a relay whose client got (or can get) no upgrade: the server hop goes too. */
  private endHandshake(): void {
    this.answered = true;
    this.ex = null;
    this.clientDone = true;
    if (this.up !== null) this.up.terminate();
    else this.upstreamDone = true;
    this.maybeFinish();
  }

  private onUpstreamOpen(): void {
    const ex = this.ex;
    if (ex === null || this.answered) {
      this.up!.terminate();
      return;
    }
    this.answered = true;
    this.ex = null; // uWS owns the connection now
    let fields = this.upgradeHeaders;
    if (this.setCookie !== '') (fields ??= []).push('Set-Cookie', this.setCookie);
    this.upgradeHeaders = null;
    ex.upgrade<WsUserData>({ relay: this }, this.key, this.protocol, this.context!, fields);
    this.context = null;
  }

  private onUpstreamRefused(r: IncomingMessage): void {
    let bytes = 0;
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes <= REFUSAL_BODY_LIMIT) chunks.push(c);
    });
    r.on('end', () => {
      const status = r.statusCode ?? 502;
      const ex = this.ex;
      if (ex !== null && !this.answered) {
        this.answered = true;
        refused.inc();
        log.debug('websocket upgrade refused by the server', this.logFields({ status }));
        const headers = downstreamHeaders(r.rawHeaders);
        const body = bytes <= REFUSAL_BODY_LIMIT ? Buffer.concat(chunks, bytes) : null;
        const fields: string[] = [];
        for (let i = 0; i < headers.length; i += 2) {
          if (body === null && headers[i]!.toLowerCase() === 'content-type') continue;
          fields.push(headers[i]!, headers[i + 1]!);
        }
        if (this.setCookie !== '') fields.push('Set-Cookie', this.setCookie);
        if (body === null) fields.push('Content-Type', 'text/plain; charset=utf-8');
        ex.respond(status, r.statusMessage ?? '', fields, body ?? `${STATUS_LINES[status] ?? status}\n`, false);
        this.ex = null;
        this.clientDone = true;
      }
      this.up?.terminate();
    });
    r.on('error', () => this.up?.terminate());
  }

  private onUpstreamError(err: Error): void {
    if (this.answered) {
      // a protocol error on the server hop (ws then closes it without waiting): tell the client now
      if (this.client !== null) this.closeClientForUpstream((err as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 1009 : 1011, null);
      return; // a 'close' follows and ends the relay
    }
    const timeout = /timed out/i.test(err.message);
    this.server?.countFail();
    this.respondError(timeout ? 'handshake-timeout' : 'handshake-failed', `upstream websocket ${timeout ? 'handshake timeout' : 'failure'}: ${err.message}`);
  }

  /** respondError answers the client's upgrade with a short generic body carrying the request id. */
  private respondError(kind: ErrorKind, reason: string, extra: HeaderWriter | null = null): void {
    const ex = this.ex;
    const id = requestId(this.seq);
    const status = ERRORS[kind].status;
    log.warn('websocket upgrade failed', this.logFields({ requestId: id, status, reason }));
    if (ex !== null && !this.answered) {
      refused.inc();
      const line = STATUS_LINES[status] ?? `${status}`;
      respondGenerated(ex, status, false, this.rt.responses, `${line}\nrequest id: ${id}\n`, extra);
    }
    this.endHandshake();
  }

  // ---- open relay ---------------------------------------------------------------------------

  /** onClientOpen runs in uWS's open handler. */
  onClientOpen(ws: UwsWebSocket<WsUserData>): void {
    this.client = ws;
    this.rxTick = tick;
    live.add(this);
    opened.inc();
    startSweeper(this.settings.idleTimeoutMs);
    const early = this.early;
    if (early !== null) {
      this.early = null;
      for (const m of early) this.onUpstreamMessage(m.data, m.binary);
    }
    // the server may have closed while the client's upgrade was on its way
    if (this.upstreamDone) this.closeClientForUpstream(1006, null);
  }

  /** onClientMessage runs in uWS's message handler: the ArrayBuffer dies when it returns. */
  onClientMessage(ab: ArrayBuffer, isBinary: boolean): void {
    const up = this.up!;
    if (up.readyState !== WS_OPEN) return; // the server hop is closing: nothing to relay to
    const b = Buffer.copyBytesFrom(new Uint8Array(ab));
    bytesFromClients.inc(b.length);
    up.send(b, isBinary ? BINARY : TEXT);
    if (up.bufferedAmount > this.settings.maxBufferedBytes) this.overflow('the server is not reading fast enough');
  }

  private onUpstreamMessage(data: Buffer, isBinary: boolean): void {
    this.rxTick = tick;
    const c = this.client;
    if (c === null) {
      if (!this.clientDone) (this.early ??= []).push({ data, binary: isBinary });
      return;
    }
    if (this.closingClient) return;
    bytesToClients.inc(data.length);
    const status = c.send(data, isBinary);
    const buffered = c.getBufferedAmount();
    if (buffered > HIGH_WATER) {
      if (status === SEND_DROPPED || buffered > this.settings.maxBufferedBytes) {
        this.overflow('the client is not reading fast enough');
        return;
      }
      if (!this.upstreamPaused) {
        this.upstreamPaused = true;
        this.up!.pause();
      }
    }
  }

  /** onClientDrain runs in uWS's drain handler. */
  onClientDrain(): void {
    const c = this.client;
    if (this.upstreamPaused && c !== null && c.getBufferedAmount() < LOW_WATER) {
      this.upstreamPaused = false;
      this.up!.resume();
    }
  }

  /** overflow closes both hops with 1013 when a receiver lets maxBufferedBytes pile up. */
  private overflow(why: string): void {
    log.warn('websocket closed: buffer limit reached', this.logFields({ reason: why, maxBufferedBytes: this.settings.maxBufferedBytes }));
    this.closeBoth(1013, 'buffer limit reached');
  }

  private closeBoth(code: number, reason: string): void {
    const c = this.client;
    if (c !== null && !this.closingClient) {
      this.closingClient = true;
      c.end(code, reason);
    }
    const up = this.up!;
    if (up.readyState === WS_OPEN) {
      // a server that does not read would never see a close frame: do not wait for it
      if (up.bufferedAmount > LOW_WATER) up.terminate();
      else up.close(code === 1013 ? 1001 : code, reason);
    } else if (up.readyState === WS_CONNECTING) up.terminate();
  }

  /** onClientClose runs in uWS's close handler (also right after fulcrum's own end()). */
  onClientClose(code: number, message: ArrayBuffer): void {
    this.client = null;
    this.clientDone = true;
    live.delete(this);
    countClosed(code);
    const up = this.up!;
    if (!this.closingClient) {
      // the client closed (or vanished): tell the server the same
      if (up.readyState === WS_OPEN) {
        try {
          if (code === 1005) up.close();
          else if (closeCodeSendable(code)) up.close(code, Buffer.copyBytesFrom(new Uint8Array(message)));
          // uWS cuts a client that sends more than maxPayloadLength without a close frame (1006)
          else if (isTooBig(message)) up.close(1009, 'message too big');
          else up.close(1001, 'client went away');
        } catch {
          up.terminate();
        }
      } else if (up.readyState === WS_CONNECTING) up.terminate();
    }
    this.maybeFinish();
  }

  private onUpstreamClose(code: number, reason: Buffer): void {
    this.upstreamDone = true;
    if (!this.answered) {
      this.respondError('handshake-failed', `upstream websocket closed during the handshake (${code})`);
      return;
    }
    if (this.client !== null) this.closeClientForUpstream(code, reason);
    this.maybeFinish();
  }

  /** closeClientForUpstream relays the server's close to the client. */
  private closeClientForUpstream(code: number, reason: Buffer | null): void {
    const c = this.client;
    if (c === null || this.closingClient) return;
    this.closingClient = true;
    if (code === 1005) c.end();
    else if (closeCodeSendable(code)) c.end(code, reason ?? '');
    // no close frame from the server: it died, or fulcrum cut it off (idle, too big a message)
    else c.end(1011, 'upstream connection lost');
  }

  /** sweep runs every idleTimeoutMs / 2: ping a quiet server, drop one silent for idleTimeoutMs. */
  sweep(): void {
    const up = this.up!;
    if (up.readyState !== WS_OPEN) return;
    const quiet = tick - this.rxTick;
    if (quiet >= 3) {
      log.info('websocket server hop idle, closing', this.logFields({}));
      up.terminate();
    } else if (quiet >= 1) up.ping();
  }

  /** goingAway closes both hops with 1001 (worker shutdown once the drain time is over). */
  goingAway(): void {
    this.closeBoth(1001, 'server shutting down');
  }

  private logFields(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      requestId: requestId(this.seq),
      route: this.route.index,
      upstream: this.upstream.name,
      server: this.server?.id,
      websocket: true,
      ...extra,
    };
  }

  private maybeFinish(): void {
    if (this.finished || !(this.clientDone && this.upstreamDone)) return;
    this.finished = true;
    this.early = null;
    if (this.server !== null) this.server.countEnd();
    if (this.clientKey !== null) releaseClient(this.clientKey);
    requestFinished();
  }
}

function startSweeper(idleTimeoutMs: number): void {
  if (sweeper !== null || idleTimeoutMs === 0) return;
  sweeper = setInterval(() => {
    tick++;
    for (const r of live) r.sweep();
  }, idleTimeoutMs / 2);
  sweeper.unref();
}

/** closeAllWebSockets sends 1001 Going Away on every open WebSocket; returns how many. */
export function closeAllWebSockets(): number {
  const n = live.size;
  for (const r of [...live]) r.goingAway();
  return n;
}
