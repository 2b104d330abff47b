/**
 * ProxyRequest carries one client request through the worker: pick a server, get a pooled
 * connection, stream the request body up and the response down, with back-pressure both ways,
 * and turn every failure into the right status (or, once the response has started, an abrupt
 * close, so that a client never mistakes a truncated body for a complete one).
 *
 * Back-pressure:
 *   client -> server: a socket.write() that returns false pauses the uWS request (res.pause())
 *                     until the socket drains.
 *   server -> client: a uWS write that does not go through pauses the upstream socket until
 *                     uWS calls onWritable. At most one read (64 KiB) is held per request.
 */
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse } from '../uws.js';
import type { PoolWaiter } from './upstream/pool.js';
import { withRetryAfter, type QueueWaiter } from './upstream/server-queue.js';
import type { Exchange, FailureKind, UpstreamConnection } from './upstream/connection.js';
import { Framing, HeaderKind, type ResponseParser } from './upstream/response-parser.js';
import type { ServerState } from './upstream/server-state.js';
import { HashKeyKind, type Upstream } from './upstream/upstream.js';
import { hashKeyOf } from './hash-key.js';
import { stickyMoved, stickyOut, stickyPick } from './sticky.js';
import { BodyMode, buildHead, type HeadInfo } from './request-head.js';
import type { RouteTarget } from './router.js';
import { log } from '../log.js';
import { trackRequest, untrackRequest, type EdgeLimits, type Expirable } from './guard/limits.js';
import { releaseClient } from './guard/client-limiter.js';
import { responsePolicy } from './guard/response-policy.js';
import { respondEdge } from './guard/edge-response.js';
import { observeFinish, observeStart } from './observe.js';

/** What a ProxyRequest needs from its worker. */
export interface ProxyHost {
  /** the worker is draining: responses carry "Connection: close" so keep-alive clients move on */
  closing: boolean;
  requestId(seq: number): string;
  requestStarted(): void;
  requestFinished(): void;
  /** peer fills `peer` with the client's address and whether it is a trusted proxy */
  peer(res: HttpResponse, out: Peer): void;
  /** the current size limits and timeouts */
  readonly limits: EdgeLimits;
}

/**
 * ResponseTap observes a ProxyRequest's response and may answer the client itself: the response
 * cache's hook (store a copy while streaming, answer from a refreshed or stale entry).
 */
export interface ResponseTap {
  /** the head arrived; true takes the client response over (nothing of this response is relayed) */
  onHead(p: ResponseParser, res: HttpResponse | null): boolean;
  /** adds fields to the relayed head or an error response (inside cork) */
  writeHeaders(res: HttpResponse): void;
  /** a piece of the body (valid only during the call) */
  onBody(buf: Buffer, start: number, end: number): void;
  onEnd(): void;
  /** the upstream request failed (status 0: after the response started); true when the tap answered the client */
  onFailure(status: number, res: HttpResponse | null): boolean;
  /** the client went away */
  onClientAborted(): void;
}

export interface Peer {
  ip: string;
  trusted: boolean;
}

const PENDING_BODY_LIMIT = 64 * 1024;
/** request bodies up to this size are kept so that a retry can resend them */
const REPLAY_BODY_LIMIT = 64 * 1024;

/** isIdempotent: RFC 9110 9.2.2 (GET HEAD OPTIONS TRACE PUT DELETE) */
function isIdempotent(m: string): boolean {
  return m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || m === 'PUT' || m === 'DELETE' || m === 'TRACE';
}

// Response bytes a slow client has not taken yet are copied out of the shared read buffer into
// a spill buffer. Spill buffers are recycled: a fresh 64 KiB allocation per stalled write cost
// page faults (glibc returns and re-faults the memory) and showed in the profile at 256 KiB.
const SPILL_BYTES = 64 * 1024;
const SPILL_KEEP = 64;
const spillFree: Buffer[] = [];

export const STATUS_LINES: string[] = [];
for (const [code, text] of Object.entries(STATUS_CODES)) STATUS_LINES[Number(code)] = `${code} ${text}`;

export function statusLine(code: number, reason: string): string {
  const std = STATUS_LINES[code];
  if (std !== undefined && std.length === reason.length + 4 && std.endsWith(reason)) return std;
  return reason ? `${code} ${reason}` : `${code} ${STATUS_CODES[code] ?? ''}`.trimEnd();
}

let seq = 0;
/** the scheme of the request being handled, for starts that do not pass one (the cache's) */
let requestProto: 'http' | 'https' = 'http';
export function setRequestProto(p: 'http' | 'https'): void {
  requestProto = p;
}
/** nextRequestSeq numbers a request that does not go through ProxyRequest (a WebSocket upgrade). */
export function nextRequestSeq(): number {
  return ++seq;
}
const peer: Peer = { ip: '', trusted: false };
const pickCtx = { clientIp: '', hashKey: '' };
const headInfo: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectStatus: 400 };

// Corked writers: uWS runs a cork callback synchronously, so the request being written is held
// in a module variable instead of a closure per write.
let corking: ProxyRequest | null = null;
function corkedHead(): void {
  corking!.writeHeadCorked();
}
function corkedBody(): void {
  corking!.writeBodyCorked();
}
function corkedEnd(): void {
  corking!.endCorked();
}

export class ProxyRequest implements Exchange, PoolWaiter, QueueWaiter, Expirable {
  res: HttpResponse | null;
  readonly seq = ++seq;
  readonly startedAt = performance.now();
  // what metrics and the access log read when the request finishes (src/worker/observe.ts)
  /** status sent to the client (0: none, e.g. the client left first) */
  status = 0;
  /** when the upstream response head arrived (0: never) */
  headAt = 0;
  bytesIn = 0;
  bytesOut = 0;
  method = '';
  target = '';
  clientIp = '';
  /** read only for the combined access log format */
  referer = '';
  userAgent = '';
  server: ServerState | null = null;
  private conn: UpstreamConnection | null = null;
  private head = '';
  private isHead = false;
  private bodyMode: BodyMode = BodyMode.None;
  /** the client's body has been read completely */
  private bodyDone = true;
  /** body chunks read before a connection was assigned */
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;
  /** the request head has been written to the connection */
  private headSent = false;
  private clientPaused = false;
  private aborted = false;
  /** the response status line has been written to the client */
  private responded = false;
  /** the response to the client is complete at the uWS level */
  private clientDone = false;
  private upstreamDone = false;
  private finished = false;
  private retried = false;
  // retries on other servers (see onUpstreamFailure)
  private idempotent = false;
  private hashKey = '';
  private attempts = 0;
  private tried: ServerState[] | null = null;
  /** the body sent so far is kept for a retry (false: no body, retries off, or too large) */
  private keepBody = false;
  private sent: Buffer[] | null = null;
  private sentBytes = 0;
  private attemptAt = 0;
  /** sticky session key ("" when the upstream has none) and the Set-Cookie to send */
  private stickyKey = '';
  private setCookie = '';
  // response streaming state
  private parser: ResponseParser | null = null;
  private useTryEnd = false;
  private total = 0;
  private out: Buffer | null = null;
  /** the recycled buffer `out` lives in, if any */
  private spill: Buffer | null = null;
  private outBase = 0;
  private chunk: Buffer | null = null;
  private upstreamPaused = false;
  private writableArmed = false;
  /** inside corked(): requestFinished waits until the cork is released */
  private inCork = false;
  private finishPending = false;
  /**
   * Pieces of a chunked or close-delimited response that came in the head's read, written after
   * its cork: uWS 20.30 drops a res.write() that overflows a non-empty cork buffer while the
   * client socket is backed up (AsyncSocket::uncork returns before writing it).
   */
  private deferred: Buffer[] | null = null;
  private endDeferred = false;
  // PoolWaiter
  poolCancelled = false;
  poolDeadline = 0;
  /** set before start() by the response cache */
  tap: ResponseTap | null = null;
  // QueueWaiter
  queueCancelled = false;
  queueDeadline = 0;
  // edge limits: performance.now() of the last body bytes (-1: not reading a body), bytes read
  bodyAt = -1;
  trackSlot = -1;
  private bodyBytes = 0;
  /** chunked body: connect only when its first bytes arrived (a malformed first chunk reaches no server) */
  private deferConnect = false;
  /** the client address counted by the per-client connection limit (released when finished) */
  clientKey: string | null = null;
  /** Strict-Transport-Security for responses over HTTPS (tls.hsts) */
  private hsts: string | null = null;

  constructor(
    res: HttpResponse,
    private readonly host: ProxyHost,
    readonly route: RouteTarget,
    readonly upstream: Upstream,
  ) {
    this.res = res;
  }

  /** start runs inside the uWS handler: everything read from req must be read here. */
  start(req: HttpRequest, method: string, target: string, proto: 'http' | 'https' = requestProto): void {
    const res = this.res!;
    this.host.requestStarted();
    trackRequest(this);
    const limits = this.host.limits;
    this.isHead = method === 'HEAD';
    if (proto === 'https') this.hsts = limits.hsts;
    this.host.peer(res, peer);
    this.method = method;
    this.target = target;
    pickCtx.clientIp = this.clientIp = peer.ip;
    observeStart(this, req);
    pickCtx.hashKey = this.hashKey = this.upstream.hashKeyKind === HashKeyKind.None ? '' : hashKeyOf(req, this.upstream, target);
    this.idempotent = isIdempotent(method);
    let server: ServerState | undefined;
    const queue = this.upstream.queue;
    if (queue.length !== 0)
      server = undefined; // others wait already: queue behind them
    else if (this.upstream.spec.sticky.mode === 'none') server = this.upstream.pick(pickCtx);
    else {
      server = stickyPick(this.upstream, req, pickCtx);
      this.stickyKey = stickyOut.key;
      this.setCookie = stickyOut.setCookie;
    }
    buildHead(
      req,
      {
        method,
        target,
        clientIp: peer.ip,
        trusted: peer.trusted,
        hostHeader: this.upstream.hostHeader,
        serverHostPort: server ? server.spec.hostPort : '',
        proto,
        maxHeaders: limits.maxHeaders,
        maxHeaderBytes: limits.maxHeaderBytes,
      },
      headInfo,
    );
    if (headInfo.reject !== null) {
      this.respondError(headInfo.rejectStatus, headInfo.reject, true);
      return;
    }
    if (headInfo.contentLength > limits.maxBodyBytes) {
      this.respondError(413, `Content-Length ${headInfo.contentLength} exceeds limits.maxBodyBytes`, true);
      return;
    }
    this.head = headInfo.head;
    this.bodyMode = headInfo.bodyMode;
    this.bodyDone = this.bodyMode === BodyMode.None;
    this.keepBody = !this.bodyDone && this.upstream.spec.retries > 0;
    if (!this.bodyDone) this.bodyAt = performance.now();
    res.onAborted(() => this.onAborted());
    if (!this.bodyDone) res.onData((ab, isLast) => this.onClientData(ab, isLast));
    if (!server) {
      if ((queue.length !== 0 || this.upstream.allFull) && queue.add(this)) return;
      // issue 20: a full queue answers with Retry-After (server-queue.ts)
      const overloaded = queue.length !== 0 || this.upstream.allFull;
      this.respondError(503, overloaded ? 'every server at its limit and the queue is full' : 'no server available', false, overloaded);
      return;
    }
    this.server = server;
    server.countStart();
    if (this.bodyMode === BodyMode.Chunked) this.deferConnect = true;
    else this.connect(false);
  }

  private connect(fresh: boolean): void {
    this.attemptAt = performance.now();
    const got = this.server!.pool.acquire(this, fresh);
    if (got) this.attach(got.conn, got.fromIdle);
    // else: queued; onPoolConnection or onPoolTimeout follows
  }

  private attach(conn: UpstreamConnection, fromIdle: boolean): void {
    this.conn = conn;
    conn.assign(this, this.isHead, fromIdle);
    this.headSent = false; // a new connection (a retry too) has seen nothing of this request
    const pending = this.pending;
    if (pending === null && this.bodyMode === BodyMode.None) {
      conn.write(this.head);
      this.headSent = true;
      conn.requestDone = true;
      return;
    }
    // no body bytes yet: the head leaves with the first of them, in one send
    if (pending === null && !this.bodyDone) return;
    const sock = conn.socket;
    sock.cork();
    this.sendHead(conn);
    if (pending !== null) {
      for (const b of pending) this.writeBody(conn, b);
      this.pending = null;
      this.pendingBytes = 0;
    }
    if (this.bodyDone) this.endBody(conn);
    sock.uncork();
    if (this.clientPaused && this.res && sock.writableLength < sock.writableHighWaterMark) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  // ---- QueueWaiter -------------------------------------------------------------------------

  onQueueTurn(): boolean {
    if (this.aborted) return true;
    pickCtx.clientIp = this.clientIp;
    pickCtx.hashKey = this.hashKey;
    const server = this.upstream.pick(pickCtx);
    if (server === undefined) {
      if (this.upstream.allFull) return false; // still full: keep waiting
      this.respondError(503, 'no server available', false);
      return true;
    }
    this.server = server;
    this.moveHost('', server.spec.hostPort);
    if (this.stickyKey !== '') stickyMoved(this.upstream, this.stickyKey, server);
    server.countStart();
    this.connect(false);
    return true;
  }

  onQueueTimeout(): void {
    if (this.aborted) return;
    this.respondError(503, 'no server below its limit within queueTimeoutMs', false, true); // issue 20: with Retry-After
  }

  // ---- PoolWaiter -------------------------------------------------------------------------

  onPoolConnection(conn: UpstreamConnection, fromIdle: boolean): void {
    this.attach(conn, fromIdle);
  }

  onPoolTimeout(): void {
    this.server?.metrics.countError('pool-timeout');
    if (this.aborted) return;
    this.respondError(503, 'no upstream connection free in time', false);
  }

  // ---- client -> server ---------------------------------------------------------------------

  private onClientData(ab: ArrayBuffer, isLast: boolean): void {
    if (this.upstreamDone || this.aborted) return;
    this.bodyAt = isLast ? -1 : performance.now();
    if ((this.bodyBytes += ab.byteLength) > this.host.limits.maxBodyBytes) {
      this.expire(413, 'request body exceeds limits.maxBodyBytes');
      return;
    }
    if (this.deferConnect) {
      this.deferConnect = false;
      if (isLast) this.bodyDone = true;
      if (ab.byteLength > 0) {
        (this.pending ??= []).push(Buffer.copyBytesFrom(new Uint8Array(ab)));
        this.pendingBytes += ab.byteLength;
      }
      this.connect(false);
      return;
    }
    if (ab.byteLength > 0) {
      this.bytesIn += ab.byteLength;
      const conn = this.conn;
      if (conn === null) {
        // uWS neuters the ArrayBuffer when we return: copy it
        const b = Buffer.copyBytesFrom(new Uint8Array(ab));
        (this.pending ??= []).push(b);
        this.pendingBytes += b.length;
        if (this.pendingBytes > PENDING_BODY_LIMIT) this.pauseClient();
      } else {
        const ok = this.sendPiece(conn, ab, isLast); // sets bodyDone and ends the body when isLast
        if (isLast) return;
        if (!ok) this.pauseClient();
      }
    }
    if (isLast) {
      this.bodyDone = true;
      const conn = this.conn;
      if (conn !== null) {
        conn.socket.cork();
        if (!this.headSent) this.sendHead(conn);
        this.endBody(conn);
        conn.socket.uncork();
      }
    }
  }

  private sendHead(conn: UpstreamConnection): void {
    conn.write(this.head);
    this.headSent = true;
  }

  /**
   * sendPiece copies a piece of the client's body out of uWS's buffer (uWS reuses it when the
   * handler returns) into one new buffer, together with what goes before and after it on the wire
   * (the request head if it has not left yet, chunk framing, the last chunk), and writes that in
   * one call: one copy and one plain write, instead of a copy plus cork/uncork (node's Writable
   * then builds a writev, copying the head string once more).
   */
  private sendPiece(conn: UpstreamConnection, ab: ArrayBuffer, isLast: boolean): boolean {
    const n = ab.byteLength;
    const chunked = this.bodyMode === BodyMode.Chunked;
    const head = this.headSent ? '' : this.head;
    const hex = chunked ? n.toString(16) + '\r\n' : '';
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    const out = Buffer.allocUnsafe(head.length * 3 + hex.length + n + (chunked ? 2 : 0) + (chunked && isLast ? 5 : 0));
    let at = head.length === 0 ? 0 : out.write(head, 0, 'utf8');
    if (chunked) at += out.write(hex, at, 'latin1');
    const dataAt = at;
    out.set(new Uint8Array(ab), at);
    at += n;
    if (chunked) {
      out[at++] = 13;
      out[at++] = 10;
      if (isLast) at += out.write('0\r\n\r\n', at, 'latin1');
    }
    this.headSent = true;
    this.keep(conn, out.subarray(dataAt, dataAt + n));
    if (isLast) {
      this.bodyDone = true;
      conn.requestDone = true;
    }
    return conn.write(out.subarray(0, at));
  }

  /** keep holds on to a piece of the body sent, for a retry (up to REPLAY_BODY_LIMIT). */
  private keep(conn: UpstreamConnection, b: Buffer): void {
    // Only a connect failure lets a non-idempotent request be retried (retryable()): once its
    // connection is up, a kept copy of the body could never be resent.
    if (this.keepBody && !conn.connecting && !this.idempotent && this.route.retryUnsafe !== true) {
      this.keepBody = false;
      this.sent = null;
    }
    if (!this.keepBody) return;
    this.sentBytes += b.length;
    if (this.sentBytes <= REPLAY_BODY_LIMIT) (this.sent ??= []).push(b);
    else {
      this.keepBody = false;
      this.sent = null;
    }
  }

  private writeBody(conn: UpstreamConnection, b: Buffer): boolean {
    this.keep(conn, b);
    if (this.bodyMode === BodyMode.Chunked) {
      conn.write(b.length.toString(16) + '\r\n');
      conn.write(b);
      return conn.write('\r\n');
    }
    return conn.write(b);
  }

  private endBody(conn: UpstreamConnection): void {
    if (this.bodyMode === BodyMode.Chunked) conn.write('0\r\n\r\n');
    conn.requestDone = true;
  }

  private pauseClient(): void {
    if (!this.clientPaused && this.res) {
      this.clientPaused = true;
      this.res.pause();
    }
  }

  onUpstreamDrain(): void {
    if (this.clientPaused && this.res) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  // ---- server -> client ---------------------------------------------------------------------

  /**
   * corked wraps the read that carries the response head in one cork, so that status, headers
   * and a body that came with them leave in one send. Later reads need no outer cork: each body
   * write corks itself.
   */
  corked(fn: () => void): void {
    const res = this.res;
    if (res !== null && !this.clientDone && !this.responded) {
      this.inCork = true;
      res.cork(fn);
      this.inCork = false;
      if (this.deferred !== null || this.endDeferred) this.flushDeferred();
      // reported only now: a draining worker exits on its last request, and the response
      // must have left the cork buffer by then
      if (this.finishPending) {
        this.finishPending = false;
        this.host.requestFinished();
      }
    } else fn();
  }

  onResponseHead(p: ResponseParser): boolean {
    if (this.aborted || !this.res) return false;
    this.parser = p;
    this.responded = true;
    const srv = this.server;
    if (srv !== null) {
      const now = performance.now();
      srv.recordLatency(now - this.attemptAt, now);
      const fs = this.upstream.spec.passiveHealth.failStatuses;
      if (fs.length !== 0 && fs.includes(p.statusCode)) srv.countFail();
    }
    this.status = p.statusCode;
    this.headAt = performance.now();
    if (this.tap?.onHead(p, this.res)) {
      this.clientDone = true;
      return true;
    }
    // inside the read's cork already (corked()): a nested res.cork would cost a call into uWS
    // and back into JavaScript for nothing
    if (this.inCork) this.writeHeadCorked();
    else {
      corking = this;
      this.res.cork(corkedHead);
      corking = null;
    }
    return true;
  }

  /** writeHeadCorked writes status and headers (inside cork). */
  writeHeadCorked(): void {
    const res = this.res!;
    const p = this.parser!;
    res.writeStatus(statusLine(p.statusCode, p.reason));
    const policy = responsePolicy();
    if (policy.serverHeader !== null) res.writeHeader('Server', policy.serverHeader);
    if (this.hsts !== null) res.writeHeader('Strict-Transport-Security', this.hsts);
    if (this.host.closing) res.writeHeader('Connection', 'close');
    const h = p.headers;
    const kinds = p.kinds;
    const drop = p.connectionTokens;
    for (let i = 0, k = 0; i < h.length; i += 2, k++) {
      if (kinds[k] !== HeaderKind.Other) continue; // hop-by-hop, framing, Date (uWS writes its own)
      const name = h[i] as string;
      if (drop?.includes(name.toLowerCase())) continue;
      if (policy.strips(name)) continue;
      res.writeHeader(name, h[i + 1]!);
    }
    if (this.tap !== null) this.tap.writeHeaders(res);
    if (this.setCookie !== '') res.writeHeader('Set-Cookie', this.setCookie);
    switch (p.framing) {
      case Framing.None:
        // HEAD, 204, 304: relay the length the server announced, send no body
        if (p.contentLength >= 0 && p.statusCode !== 204) res.writeHeader('Content-Length', String(p.contentLength));
        res.endWithoutBody();
        this.clientDone = true;
        break;
      case Framing.Length:
        if (p.contentLength === 0) {
          res.end();
          this.clientDone = true;
        } else {
          this.useTryEnd = true;
          this.total = p.contentLength;
        }
        break;
      default:
        this.useTryEnd = false;
    }
  }

  onResponseBody(buf: Buffer, start: number, end: number): void {
    if (this.tap !== null) this.tap.onBody(buf, start, end);
    const res = this.res;
    if (res === null || this.clientDone) return;
    this.bytesOut += end - start;
    if (this.inCork && !this.useTryEnd) {
      (this.deferred ??= []).push(Buffer.from(buf.subarray(start, end)));
      return;
    }
    if (this.out !== null) {
      // still waiting for the client to take the previous part: keep this one too
      this.out = Buffer.concat([this.out, buf.subarray(start, end)]);
      this.freeSpill();
      return;
    }
    this.chunk = buf.subarray(start, end);
    if (this.inCork) this.writeBodyCorked();
    else {
      corking = this;
      res.cork(corkedBody);
      corking = null;
    }
    this.chunk = null;
  }

  /** writeBodyCorked writes this.chunk (inside cork). */
  writeBodyCorked(): void {
    const res = this.res!;
    const chunk = this.chunk!;
    if (this.useTryEnd) {
      if (chunk.length === this.total && this.bytesOut === this.total) {
        // the whole body in one piece (most responses): end() sends what the socket takes and
        // keeps the rest (at most one 64 KiB read) in uWS's buffer; no offset bookkeeping, and no
        // [ok, done] array from tryEnd
        res.end(chunk);
        this.clientDone = true;
        return;
      }
      const base = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.total);
      if (done) {
        this.clientDone = true;
        return;
      }
      if (!ok) {
        // uWS took only part of it: keep a copy (the read buffer is shared) and wait
        this.out = this.copyToSpill(chunk);
        this.outBase = base;
        this.waitWritable();
      }
      return;
    }
    if (!res.write(chunk)) this.waitWritable();
  }

  private copyToSpill(chunk: Buffer): Buffer {
    if (chunk.length > SPILL_BYTES) return Buffer.from(chunk);
    const b = spillFree.pop() ?? Buffer.allocUnsafeSlow(SPILL_BYTES);
    chunk.copy(b, 0);
    this.spill = b;
    return b.subarray(0, chunk.length);
  }

  /** freeSpill recycles the spill buffer once nothing refers to it (out is null or a copy). */
  private freeSpill(): void {
    const b = this.spill;
    if (b === null) return;
    this.spill = null;
    if (spillFree.length < SPILL_KEEP) spillFree.push(b);
  }

  private waitWritable(): void {
    if (!this.upstreamPaused && this.conn) {
      this.upstreamPaused = true;
      this.conn.pause();
    }
    if (!this.writableArmed) {
      this.writableArmed = true;
      this.res!.onWritable((offset) => this.onWritable(offset));
    }
  }

  private onWritable(offset: number): boolean {
    const res = this.res;
    if (res === null) return true;
    if (this.out !== null) {
      const [ok, done] = res.tryEnd(this.out.subarray(offset - this.outBase), this.total);
      if (done) {
        this.out = null;
        this.freeSpill();
        this.clientDone = true;
        this.maybeFinish();
        return true;
      }
      if (!ok) return false;
      this.out = null;
      this.freeSpill();
    }
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.conn?.resume();
    }
    return true;
  }

  onResponseEnd(): void {
    if (this.tap !== null) this.tap.onEnd();
    this.upstreamDone = true;
    this.conn = null; // the connection returns itself to the pool
    if (this.res !== null && !this.clientDone && !this.useTryEnd) {
      if (this.inCork) {
        this.endDeferred = true;
        return;
      }
      corking = this;
      this.res.cork(corkedEnd);
      corking = null;
    }
    this.maybeFinish();
  }

  /** flushDeferred writes what the head's read left for after its cork (see `deferred`). */
  private flushDeferred(): void {
    const pieces = this.deferred;
    const end = this.endDeferred;
    this.deferred = null;
    this.endDeferred = false;
    const res = this.res;
    if (res === null || this.clientDone) return; // aborted or failed meanwhile
    if (pieces !== null) {
      for (const b of pieces) {
        this.chunk = b;
        corking = this;
        res.cork(corkedBody);
        corking = null;
        this.chunk = null;
      }
    }
    if (end) {
      corking = this;
      res.cork(corkedEnd);
      corking = null;
      this.maybeFinish();
    }
  }

  endCorked(): void {
    this.res!.end();
    this.clientDone = true;
  }

  onUpstreamFailure(kind: FailureKind, detail: string, beforeResponse: boolean, reusedIdle: boolean): void {
    this.conn = null;
    if (this.aborted || this.res === null) {
      this.upstreamDone = true;
      this.maybeFinish();
      return;
    }
    // A keep-alive connection the server had already closed: resend once on a fresh connection,
    // when nothing of the request is lost (no body) and nothing of the response arrived.
    if (reusedIdle && beforeResponse && !this.retried && this.bodyMode === BodyMode.None && kind === 'reset-before-response') {
      this.retried = true;
      this.server!.metrics.retries++;
      this.connect(true);
      return;
    }
    this.server?.metrics.countError(kind);
    this.server?.countFail();
    if (!this.responded && this.retryable(kind) && this.retry(kind, detail)) return;
    if (!this.responded) {
      const status = kind === 'connect-timeout' || kind === 'response-timeout' ? 504 : 502;
      this.respondError(status, `${kind}: ${detail}`, false);
      return;
    }
    // The response already started: the client must see a broken response, not a short one.
    if (this.tap !== null) this.tap.onFailure(0, null);
    this.logFailure(0, `${kind} after the response started: ${detail}`);
    this.upstreamDone = true;
    const res = this.res;
    this.res = null;
    this.aborted = true;
    res.close();
    this.maybeFinish();
  }

  /**
   * retryable tells whether a failure may be retried on another server: a connection that was
   * never established (nothing reached the server) always may; a reset, invalid response or
   * response timeout before any response byte only for idempotent methods or on a route with
   * retryUnsafe. A body is resent only if it was kept whole (REPLAY_BODY_LIMIT).
   */
  private retryable(kind: FailureKind): boolean {
    const up = this.upstream.spec;
    if (this.attempts >= up.retries) return false;
    if (this.bodyMode !== BodyMode.None && !this.keepBody) return false;
    const cls = kind === 'connect-refused' || kind === 'connect-timeout' ? 'connect-error' : kind === 'response-timeout' ? 'timeout' : 'error';
    if (!up.retryOn.includes(cls)) return false;
    return cls === 'connect-error' || this.idempotent || this.route.retryUnsafe === true;
  }

  /**
   * moveHost rewrites the Host sent upstream when it was the server's own host:port (hostHeader
   * "server", or a client that sent no Host) and the request moves to another server. A client
   * Host that happens to equal the old server's host:port is rewritten too (harmless: it named
   * the backend). Off the hot path: only on a retry or a queued request's turn.
   */
  private moveHost(from: string, to: string): void {
    if (this.upstream.hostHeader !== 'server' && this.upstream.hostHeader !== 'client') return;
    const at = this.head.indexOf('\r\nhost: ');
    const line = '\r\nhost: ' + from + '\r\n';
    if (at !== -1 && this.head.startsWith(line, at)) this.head = this.head.slice(0, at) + '\r\nhost: ' + to + '\r\n' + this.head.slice(at + line.length);
  }

  /** retry moves the request to a server it has not tried yet; false when there is none. */
  private retry(kind: FailureKind, detail: string): boolean {
    const old = this.server!;
    const tried = (this.tried ??= []);
    tried.push(old);
    pickCtx.clientIp = this.clientIp;
    pickCtx.hashKey = this.hashKey;
    const next = this.upstream.pick(pickCtx, tried);
    if (next === undefined) return false;
    this.attempts++;
    log.debug('retrying on another server', {
      requestId: this.host.requestId(this.seq),
      upstream: this.upstream.name,
      from: old.id,
      to: next.id,
      reason: `${kind}: ${detail}`,
    });
    old.countEnd();
    next.countStart();
    this.server = next;
    if (this.stickyKey !== '') stickyMoved(this.upstream, this.stickyKey, next);
    this.moveHost(old.spec.hostPort, next.spec.hostPort);
    if (this.keepBody) {
      this.pending = this.sent;
      this.pendingBytes = this.sentBytes;
      this.sent = null;
      this.sentBytes = 0;
    }
    this.connect(false);
    return true;
  }

  /** expire ends the request on an edge limit: `status` if nothing was sent yet, else a close. */
  expire(status: number, reason: string): void {
    if (this.finished || this.aborted || this.res === null) return;
    this.bodyAt = -1;
    this.poolCancelled = true;
    this.queueCancelled = true;
    if (!this.responded) {
      this.respondError(status, reason, true);
      return;
    }
    this.logFailure(0, reason);
    const res = this.res;
    this.res = null;
    this.aborted = true;
    this.upstreamDone = true;
    if (this.conn !== null) {
      this.conn.destroy();
      this.conn = null;
    }
    res.close();
    this.maybeFinish();
  }

  private onAborted(): void {
    if (this.tap !== null) this.tap.onClientAborted();
    this.aborted = true;
    this.res = null;
    this.poolCancelled = true;
    this.queueCancelled = true;
    const conn = this.conn;
    if (conn !== null) {
      this.conn = null;
      conn.destroy(); // cancels the upstream request
    }
    this.upstreamDone = true;
    this.maybeFinish();
  }

  // ---- endings ------------------------------------------------------------------------------

  /** respondError answers the client with a short generic body that carries the request id (and Retry-After when the queue was full or timed out). */
  respondError(status: number, reason: string, close: boolean, retryAfter = false): void {
    const res = this.res;
    const id = this.host.requestId(this.seq);
    this.logFailure(status, reason);
    this.status = status;
    this.upstreamDone = true;
    if (this.conn !== null) {
      this.conn.destroy();
      this.conn = null;
    }
    if (res !== null && !this.clientDone && this.tap !== null && !this.responded && this.tap.onFailure(status, res)) {
      this.clientDone = true;
    }
    if (res !== null && !this.clientDone) {
      const line = STATUS_LINES[status] ?? `${status}`;
      const tap = retryAfter ? withRetryAfter(this.tap) : this.tap;
      res.cork(() => respondEdge(res, status, close || this.host.closing, id, `${line}\nrequest id: ${id}\n`, tap));
      this.clientDone = true;
    }
    this.maybeFinish();
  }

  private logFailure(status: number, reason: string): void {
    log.warn('upstream request failed', {
      requestId: this.host.requestId(this.seq),
      status: status || undefined,
      route: this.route.index,
      upstream: this.upstream.name,
      server: this.server?.id,
      reason,
    });
  }

  private maybeFinish(): void {
    if (this.finished) return;
    if (!(this.upstreamDone && (this.clientDone || this.aborted))) return;
    this.finished = true;
    untrackRequest(this);
    if (this.clientKey !== null) releaseClient(this.clientKey);
    if (this.server !== null) this.server.countEnd();
    if (this.upstream.queue.length !== 0) this.upstream.queue.drain();
    observeFinish(this);
    if (this.inCork) this.finishPending = true;
    else this.host.requestFinished();
  }
}
