/**
 * Tunnel: a WebSocket upgrade on fulcrum's own engine, proxied as nginx proxies one
 * (proxy_http_version 1.1 with Upgrade/Connection passed on): the request goes to the server on a
 * connection of its own, and once the server answers 101 Switching Protocols (RFC 9110 15.2.2,
 * RFC 6455 4.1) the client gets that 101 and both connections become one byte tunnel
 * (tunnel-relay.ts). Frames, subprotocols and extensions are the two ends' business: the client's
 * Sec-WebSocket-* fields go to the server as sent, and the server's 101 answers the client's key.
 *
 * The server is picked by the same sequence as an HTTP request (select.ts: hash key, sticky
 * session, policy, backups; no maxConnections queue: a handshake would rather get 503 at once),
 * the head is built as for HTTP (head.ts: hop-by-hop fields removed, X-Forwarded-*, Via, Host by
 * hostHeader) plus Connection: upgrade and Upgrade: websocket. The server's answer is read with
 * the strict upstream parser within timeouts.upstreamResponseMs:
 *   - 101: relayed with its end-to-end fields (Set-Cookie...) and the sticky cookie, then tunnel;
 *   - any other status: relayed with its end-to-end fields and its body (up to 64 KiB; a larger
 *     body is replaced by a short one), as a refusal;
 *   - no connection, no answer in time, a broken answer: 502/504 of the upstream failure kinds
 *     (src/errors.ts), with the request id, counted for passive health as for HTTP.
 *
 * From the upgrade until both connections are closed the tunnel counts as one request in flight
 * on its server (least-connections sees it), in the worker (a drain waits for it), and against
 * the client's maxConnectionsPerClient.
 *
 * Over HTTP/2 (RFC 8441: a stream `CONNECT` with `:protocol: websocket`, ClientExchange.tunnel
 * with method CONNECT) the same tunnel, with the HTTP/1.1 handshake done by fulcrum on the server
 * hop: the request goes up as `GET` with Upgrade/Connection, the client's Sec-WebSocket-Version
 * (13 if it sent none), -Protocol and -Extensions, and a fresh Sec-WebSocket-Key (the client
 * sends none over HTTP/2, RFC 8441 5); the server's 101 must carry the matching
 * Sec-WebSocket-Accept (RFC 6455 4.1, else 502 invalid-response) and becomes `:status 200` with
 * its end-to-end fields (not the Accept); any other answer is relayed as above. The stream is
 * then the client's side of the relay (exchange-duplex.ts): DATA both ways with flow control,
 * END_STREAM for a FIN, RST_STREAM CANCEL for a reset.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ERRORS, type ErrorKind, type FailureKind } from '../../errors.js';
import type { LoadedConfig } from '../../config/load.js';
import { log } from '../../log.js';
import { STATUS_LINES } from '../../net/http-status.js';
import { type ClientExchange, type ClientHandler, type ClientPeer, ResponseBody } from '../engine/exchange.js';
import { releaseClient } from '../guard/client-limiter.js';
import type { EdgeLimits } from '../guard/limits.js';
import type { ResponsePolicy } from '../guard/response-policy.js';
import { requestFinished, requestStarted } from '../obs/activity.js';
import { counter } from '../obs/metrics.js';
import { requestId } from '../obs/request-id.js';
import type { RouteTarget } from '../router.js';
import { HeaderKind, ResponseParser, type ResponseSink } from '../upstream/response-parser.js';
import type { ServerState } from '../upstream/server-state.js';
import type { Upstream } from '../upstream/upstream.js';
import { respondFailure } from './failure.js';
import { ExchangeDuplex } from './exchange-duplex.js';
import { BodyMode, buildHeadFor, type HeadEdit, type HeadInfo } from './head.js';
import { selectServer, type Selection } from './select.js';
import { type RelayOwner, TunnelRelay } from './tunnel-relay.js';

/** What a tunnel reads from the worker's runtime of the request's generation. */
export interface TunnelRuntime {
  readonly cfg: LoadedConfig;
  readonly limits: EdgeLimits;
  readonly responses: ResponsePolicy;
}

// shared with the uWS relay (ws/ws-proxy.ts): counter() returns the same series
const opened = counter('fulcrum_websockets_opened_total', 'WebSocket connections accepted (both hops open).').labels();
const refused = counter(
  'fulcrum_websocket_upgrades_refused_total',
  'WebSocket upgrades answered with an HTTP status instead (server refusal, no server, bad handshake).',
).labels();

/** a refusal body larger than this is replaced by fulcrum's own short body (as the uWS relay does) */
const REFUSAL_BODY_LIMIT = 64 * 1024;
/** the fields that make the forwarded request an upgrade (buildHead removed the client's, as hop-by-hop) */
const UPGRADE_FIELDS = 'connection: upgrade\r\nupgrade: websocket\r\n\r\n';

/** RFC 6455 1.3: what Sec-WebSocket-Accept hashes with the key */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** an HTTP/2 client's key, if it sent one, is not for the server (RFC 8441 5: not used); fulcrum sends its own */
const STREAM_DROP = ['sec-websocket-key'];
const EMPTY = Buffer.alloc(0);

const headInfo: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };

const enum Phase {
  /** connecting to the server */
  Connecting,
  /** the request is sent: waiting for the answer's head */
  Waiting,
  /** a refusal's body is being read */
  Refusal,
  /** 101 relayed: the relay owns both sockets */
  Open,
  Done,
}

/**
 * isWebSocketUpgrade: the upgrade (ClientExchange.tunnel) asks for "websocket" (RFC 6455 4.1:
 * case-insensitive), or is an HTTP/2 extended CONNECT (engines accept only :protocol websocket).
 */
export function isWebSocketUpgrade(ex: ClientExchange): boolean {
  return overStream(ex) || ex.field('upgrade').toLowerCase() === 'websocket';
}

/** overStream: the tunnel is an HTTP/2 stream (RFC 8441), not an HTTP/1.1 connection (an HTTP/1.1 CONNECT is never a WebSocket) */
function overStream(ex: ClientExchange): boolean {
  return ex.method === 'CONNECT' && ex.httpVersion === 'HTTP/2';
}

export class Tunnel implements ClientHandler, ResponseSink, Selection, RelayOwner {
  readonly seq: number;
  /** the per-client limit's key to release at the end, or null */
  clientKey: ClientPeer | null = null;
  // Selection (select.ts)
  clientIp = '';
  hashKey = '';
  stickyKey = '';
  setCookie = '';
  private ex: ClientExchange | null;
  private up: net.Socket | null = null;
  private server: ServerState | null = null;
  private readonly parser = new ResponseParser(this);
  private phase = Phase.Connecting;
  private head = '';
  private responseMs = 0;
  private lastError: NodeJS.ErrnoException | null = null;
  /** the server read being parsed (the bytes after a 101 head are the tunnel's) */
  private reading: Buffer | null = null;
  // a refusal: its answer, kept until its body is complete
  private status = 0;
  private reason = '';
  private fields: (string | Buffer)[] | null = null;
  private body: Buffer[] | null = null;
  private bodyBytes = 0;
  private finished = false;
  /** an HTTP/2 stream (RFC 8441), not a connection to detach */
  private readonly overStream: boolean;
  /** the Sec-WebSocket-Key fulcrum sent for an HTTP/2 client ("" otherwise) */
  private key = '';

  constructor(
    ex: ClientExchange,
    private readonly rt: TunnelRuntime,
    private readonly route: RouteTarget,
    private readonly upstream: Upstream,
  ) {
    this.ex = ex;
    this.seq = ex.seq;
    this.overStream = overStream(ex);
    this.parser.upgrade = true;
  }

  start(): void {
    const ex = this.ex!;
    ex.handler = this;
    requestStarted();
    this.clientIp = ex.peer.ip;
    const limits = this.rt.limits;
    const server = selectServer(this.upstream, ex, ex.target, this, false);
    let edit: HeadEdit | null = null;
    if (this.overStream) {
      this.key = randomBytes(16).toString('base64');
      const extra = ['sec-websocket-key', this.key];
      if (ex.field('sec-websocket-version') === '') extra.push('sec-websocket-version', '13');
      edit = { drop: STREAM_DROP, extra };
    }
    buildHeadFor(ex, this.overStream ? 'GET' : ex.method, ex.target, this.upstream, server ? server.spec.hostPort : '', limits, edit, headInfo);
    if (headInfo.reject !== null) return this.fail(headInfo.rejectKind, headInfo.reject);
    if (server === undefined) return this.fail('no-server', ERRORS['no-server'].log);
    this.server = server;
    server.countStart();
    // the engine's tunnel rule (no body) leaves an empty line to replace
    this.head = headInfo.head.slice(0, -2) + UPGRADE_FIELDS;
    const t = this.rt.cfg.raw.timeouts;
    this.responseMs = t.upstreamResponseMs;
    const up = net.connect({ host: server.spec.host, port: server.spec.port, noDelay: true, allowHalfOpen: true });
    this.up = up;
    up.setTimeout(t.upstreamConnectMs);
    up.on('connect', () => this.onConnect());
    up.on('data', (b: Buffer) => this.onServerData(b));
    up.on('end', () => this.onServerEnd());
    up.on('timeout', () => this.onServerTimeout());
    up.on('error', (err: NodeJS.ErrnoException) => (this.lastError = err));
    up.on('close', () => this.onServerClose());
  }

  // ---- handshake: the server side ---------------------------------------------------------------

  private onConnect(): void {
    if (this.phase !== Phase.Connecting) return;
    this.phase = Phase.Waiting;
    const up = this.up!;
    up.setTimeout(this.responseMs);
    up.write(this.head);
    this.head = '';
  }

  private onServerData(b: Buffer): void {
    if (this.phase !== Phase.Waiting && this.phase !== Phase.Refusal) return;
    this.reading = b;
    this.parser.feed(b, 0, b.length);
    this.reading = null;
  }

  private onServerEnd(): void {
    // a close-delimited refusal body ends here
    if (this.phase === Phase.Refusal && this.parser.finish()) return;
    this.up?.destroy();
  }

  private onServerTimeout(): void {
    if (this.phase === Phase.Connecting) this.upstreamFailure('connect-timeout', `no connection within ${this.rt.cfg.raw.timeouts.upstreamConnectMs} ms`);
    else if (this.phase === Phase.Waiting || this.phase === Phase.Refusal) this.upstreamFailure('response-timeout', `no answer within ${this.responseMs} ms`);
  }

  private onServerClose(): void {
    const why = this.lastError?.code ?? 'closed';
    if (this.phase === Phase.Connecting) this.upstreamFailure('connect-refused', why);
    else if (this.phase === Phase.Waiting) this.upstreamFailure('reset-before-response', why);
    else if (this.phase === Phase.Refusal) this.upstreamFailure('truncated', why);
  }

  onResponseHead(p: ResponseParser): boolean {
    if (this.ex === null) return false;
    if (p.statusCode === 101) {
      if (this.overStream && !this.accepted(p)) {
        this.upstreamFailure('invalid-response', 'Sec-WebSocket-Accept does not match the key');
        return false;
      }
      this.open(p);
      return false;
    }
    // a refusal: relay it once its body is read
    this.phase = Phase.Refusal;
    this.status = p.statusCode;
    this.reason = p.reason;
    this.fields = endToEnd(p, null);
    return true;
  }

  onResponseBody(buf: Buffer, start: number, end: number): void {
    this.bodyBytes += end - start;
    // the socket's own buffer (no shared read buffer here): kept without a copy
    if (this.bodyBytes <= REFUSAL_BODY_LIMIT) (this.body ??= []).push(buf.subarray(start, end));
  }

  onResponseEnd(): void {
    const ex = this.ex;
    if (this.phase !== Phase.Refusal || ex === null) return;
    this.phase = Phase.Done;
    const fields = this.fields!;
    let body: Buffer | string;
    if (this.bodyBytes <= REFUSAL_BODY_LIMIT) body = this.body === null ? '' : Buffer.concat(this.body, this.bodyBytes);
    else {
      for (let i = 0; i < fields.length; i += 2) if ((fields[i] as string).toLowerCase() === 'content-type') fields.splice(i, 2);
      fields.push('Content-Type', 'text/plain; charset=utf-8');
      body = `${STATUS_LINES[this.status] ?? this.status}\n`;
    }
    if (this.setCookie !== '') fields.push('Set-Cookie', this.setCookie);
    refused.inc();
    log.debug('websocket upgrade refused by the server', this.logFields({ status: this.status }));
    this.ex = null;
    ex.respond(this.status, this.reason, fields, body, false);
    this.up!.destroy();
    this.fields = this.body = null;
    this.finish();
  }

  onResponseError(reason: string): void {
    this.upstreamFailure('invalid-response', reason);
  }

  // ---- the switch -------------------------------------------------------------------------------

  /** accepted checks the server's Sec-WebSocket-Accept against the key fulcrum sent (RFC 6455 4.1, 4.2.2) */
  private accepted(p: ResponseParser): boolean {
    const want = createHash('sha1')
      .update(this.key + WS_GUID)
      .digest('base64');
    const h = p.headers;
    for (let i = 0; i < h.length; i += 2) if ((h[i] as string).toLowerCase() === 'sec-websocket-accept') return String(h[i + 1]).trim() === want;
    return false;
  }

  /**
   * open relays the server's 101 to the client (over HTTP/2: a 200 without the Accept field) and
   * hands both sides to a TunnelRelay.
   */
  private open(p: ResponseParser): void {
    const ex = this.ex!;
    const up = this.up!;
    const read = this.reading!;
    const rest = p.switchedAt < read.length ? read.subarray(p.switchedAt) : null;
    this.phase = Phase.Open;
    const fields = endToEnd(p, this.setCookie);
    this.ex = null;
    let d: { socket: Duplex; head: Buffer } | null;
    if (this.overStream) {
      ex.writeStatus(200, 'OK');
      for (let i = 0; i < fields.length; i += 2)
        if ((fields[i] as string).toLowerCase() !== 'sec-websocket-accept') ex.writeHeader(fields[i] as string, fields[i + 1]!);
      ex.endHead(ResponseBody.Unknown, false);
      d = { socket: new ExchangeDuplex(ex), head: EMPTY };
    } else {
      ex.writeStatus(101, p.reason || 'Switching Protocols');
      for (let i = 0; i < fields.length; i += 2) ex.writeHeader(fields[i] as string, fields[i + 1]!);
      ex.writeHeader('Upgrade', 'websocket'); // the engine adds Connection: upgrade to a 101
      ex.endHead(ResponseBody.None, false);
      d = ex.detach();
    }
    if (d === null) {
      // not an engine that can hand its connection over (never with the tunnel flag set)
      ex.abort();
      up.destroy();
      return this.finish();
    }
    up.setTimeout(0);
    up.removeAllListeners('data');
    up.removeAllListeners('end');
    up.removeAllListeners('timeout');
    up.removeAllListeners('close');
    up.removeAllListeners('error');
    opened.inc();
    new TunnelRelay(d.socket, up, this.rt.cfg.raw.websocket.idleTimeoutMs, this).start(d.head, rest);
  }

  onRelayClosed(): void {
    this.phase = Phase.Done;
    this.finish();
  }

  // ---- the client during the handshake -----------------------------------------------------------

  onClientAborted(): void {
    this.ex = null;
    if (this.phase === Phase.Open || this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.up?.destroy();
    this.finish();
  }

  onClientWritable(): void {}
  onClientBody(): void {}

  // ---- failures ---------------------------------------------------------------------------------

  private upstreamFailure(kind: FailureKind, detail: string): void {
    const s = this.server;
    if (s !== null) {
      s.metrics.countError(kind);
      s.countFail();
    }
    this.fail(kind, `${ERRORS[kind].log}: ${detail}`);
  }

  /** fail answers the client with the kind's status and the request id, and ends the tunnel. */
  private fail(kind: ErrorKind, reason: string): void {
    if (this.phase === Phase.Done || this.phase === Phase.Open) return;
    this.phase = Phase.Done;
    log.warn('websocket upgrade failed', this.logFields({ status: ERRORS[kind].status, reason }));
    this.up?.destroy();
    const ex = this.ex;
    this.ex = null;
    if (ex !== null) {
      refused.inc();
      respondFailure(ex, kind, this.rt.responses, null);
    }
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.up = null;
    if (this.server !== null) this.server.countEnd();
    if (this.clientKey !== null) releaseClient(this.clientKey);
    requestFinished();
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
}

/**
 * endToEnd picks the fields of a server's answer that reach the client: not the framing
 * (Content-Length, Transfer-Encoding), not hop-by-hop ones (Connection and what it names,
 * Keep-Alive, Upgrade, TE, Trailer: RFC 9110 7.6.1); plus the sticky cookie when there is one.
 */
function endToEnd(p: ResponseParser, setCookie: string | null): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  const h = p.headers;
  const named = p.connectionTokens;
  for (let i = 0; i < h.length; i += 2) {
    switch (p.kinds[i >> 1]) {
      case HeaderKind.Other:
      case HeaderKind.Date:
        if (named?.includes((h[i] as string).toLowerCase())) continue;
        out.push(h[i]!, h[i + 1]!);
    }
  }
  if (setCookie !== null && setCookie !== '') out.push('Set-Cookie', setCookie);
  return out;
}
