/**
 * ProxyRequest carries one client request through the worker: pick a server (select.ts), get a
 * pooled connection, send the head (head.ts) and body (request-body.ts), relay the response
 * (response-writer.ts), retry on another server where that is safe (failure.ts), and account for
 * the request when both sides are done. Every failure becomes the status of its kind
 * (src/errors.ts), or, once the response has started, an abrupt close, so that a client never
 * mistakes a truncated body for a complete one.
 *
 * It is the ClientHandler of its exchange, the UpstreamHandler of its connection, a PoolWaiter
 * and a QueueWaiter: one object per request, no closure per event.
 */
import type { ErrorKind, FailureKind } from '../../errors.js';
import { ERRORS } from '../../errors.js';
import { log } from '../../log.js';
import type { ClientExchange, ClientHandler, ClientPeer } from '../engine/exchange.js';
import { releaseClient } from '../guard/client-limiter.js';
import { trackRequest, untrackRequest, type Expirable } from '../guard/limits.js';
import { requestFinished, requestStarted } from '../obs/activity.js';
import { observeFinish } from '../observe.js';
import { requestId } from '../obs/request-id.js';
import type { RouteTarget } from '../router.js';
import type { UpstreamConnection, UpstreamHandler } from '../upstream/connection.js';
import type { PoolWaiter } from '../upstream/pool.js';
import { HeaderKind, type ResponseParser } from '../upstream/response-parser.js';
import type { QueueWaiter } from '../upstream/server-queue.js';
import type { ServerState } from '../upstream/server-state.js';
import type { Upstream } from '../upstream/upstream.js';
import { isIdempotent, logFailure, mayRetry, respondFailure } from './failure.js';
import { BodyMode, buildHeadFor, moveHost, type HeadEdit, type HeadInfo } from './head.js';
import { RequestBody, type BodyOwner } from './request-body.js';
import { ResponseWriter, type ProxySettings } from './response-writer.js';
import { reselect, selectServer, waitForServer, type Selection } from './select.js';

/** the fields of an interim response being relayed (one at a time, synchronously) */
const interimFields: (string | Buffer)[] = [];
const headInfo: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };

export class ProxyRequest extends ResponseWriter implements ClientHandler, UpstreamHandler, PoolWaiter, QueueWaiter, Expirable, Selection, BodyOwner {
  readonly seq: number;
  readonly startedAt: number;
  bytesIn = 0;
  method = '';
  target = '';
  clientIp = '';
  protocol = '';
  /** read only when the access log writes them (AccessLog.wantsHost ...) */
  host = '';
  referer = '';
  userAgent = '';
  /** the failure that ended the request (the access log's reason), or null */
  reason: ErrorKind | null = null;
  server: ServerState | null = null;
  conn: UpstreamConnection | null = null;
  head = '';
  headSent = false;
  private isHead = false;
  private body: RequestBody | null = null;
  private aborted = false;
  private finished = false;
  private retried = false;
  // retries on other servers (see onUpstreamFailure)
  private idempotent = false;
  private attempts = 0;
  private tried: ServerState[] | null = null;
  private attemptAt = 0;
  // Selection
  hashKey = '';
  stickyKey = '';
  /** inside corked(): requestFinished waits until the cork is released */
  private inCork = false;
  private finishPending = false;
  // PoolWaiter
  poolCancelled = false;
  poolDeadline = 0;
  // QueueWaiter
  queueCancelled = false;
  queueDeadline = 0;
  // edge limits: performance.now() of the last body bytes (-1: not reading a body)
  bodyAt = -1;
  trackSlot = -1;
  /** the client address counted by the per-client connection limit (released when finished) */
  clientKey: ClientPeer | null = null;

  constructor(
    client: ClientExchange,
    settings: ProxySettings,
    readonly route: RouteTarget,
    readonly upstream: Upstream,
  ) {
    super(client, settings);
    this.seq = client.seq;
    this.startedAt = client.startedAt;
  }

  get maxBodyBytes(): number {
    return this.settings.limits.maxBodyBytes;
  }

  get replayable(): boolean {
    return this.idempotent || this.route.retryUnsafe === true;
  }

  /** start forwards the request; `edit` changes the forwarded fields (the cache's). */
  start(edit: HeadEdit | null = null): void {
    const ex = this.client!;
    ex.handler = this;
    requestStarted();
    trackRequest(this);
    const limits = this.settings.limits;
    const method = ex.method;
    this.isHead = method === 'HEAD';
    if (ex.secure) this.hsts = limits.hsts;
    this.method = method;
    this.target = ex.target;
    this.clientIp = ex.peer.ip;
    this.protocol = ex.httpVersion;
    const accessLog = this.settings.accessLog;
    if (accessLog !== null) {
      if (accessLog.wantsHost) this.host = ex.field('host');
      if (accessLog.wantsReferer) this.referer = ex.field('referer');
      if (accessLog.wantsUserAgent) this.userAgent = ex.field('user-agent');
    }
    this.idempotent = isIdempotent(method);
    const server = selectServer(this.upstream, ex, this.target, this, true);
    buildHeadFor(ex, method, this.target, this.upstream, server ? server.spec.hostPort : '', limits, edit, headInfo);
    if (headInfo.reject !== null) return this.respondError(headInfo.rejectKind, headInfo.reject);
    if (headInfo.contentLength > limits.maxBodyBytes)
      return this.respondError('body-too-large', `Content-Length ${headInfo.contentLength} exceeds limits.maxBodyBytes`);
    this.head = headInfo.head;
    if (headInfo.bodyMode !== BodyMode.None) {
      this.body = new RequestBody(this, headInfo.bodyMode, this.upstream.spec.retries > 0);
      this.bodyAt = performance.now();
      ex.readBody();
    }
    if (!server) {
      const kind = waitForServer(this.upstream, this);
      if (kind !== null) this.respondError(kind, ERRORS[kind].log);
      return;
    }
    this.server = server;
    server.countStart();
    if (this.body === null || !this.body.deferConnect) this.connect(false);
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
    const body = this.body;
    if (body === null) {
      conn.write(this.head);
      this.headSent = true;
      conn.requestDone = true;
      return;
    }
    body.attach(conn);
  }

  // ---- QueueWaiter / PoolWaiter ---------------------------------------------------------------

  onQueueTurn(): boolean {
    if (this.aborted) return true;
    const server = reselect(this.upstream, this, null);
    if (server === undefined) {
      if (this.upstream.allFull) return false; // still full: keep waiting
      this.respondError('no-server', ERRORS['no-server'].log);
      return true;
    }
    this.server = server;
    this.head = moveHost(this.head, this.upstream.hostHeader, '', server.spec.hostPort);
    server.countStart();
    if (this.body === null || !this.body.deferConnect) this.connect(false);
    return true;
  }

  onQueueTimeout(): void {
    if (this.aborted) return;
    this.respondError('queue-timeout', ERRORS['queue-timeout'].log);
  }

  onPoolConnection(conn: UpstreamConnection, fromIdle: boolean): void {
    this.attach(conn, fromIdle);
  }

  onPoolTimeout(): void {
    this.server?.metrics.countError('pool-timeout');
    if (this.aborted) return;
    this.respondError('pool-timeout', ERRORS['pool-timeout'].log);
  }

  // ---- client -> server (request-body.ts) -------------------------------------------------------

  onClientBody(buf: Buffer, start: number, end: number, last: boolean): void {
    if (this.upstreamDone || this.aborted || this.body === null) return;
    this.body.onClientBody(buf, start, end, last);
  }

  onBodyTooLarge(): void {
    this.expire('body-too-large', 'request body exceeds limits.maxBodyBytes');
  }

  onFirstBody(): void {
    if (this.server !== null) this.connect(false);
  }

  onUpstreamDrain(): void {
    this.body?.onUpstreamDrain();
  }

  // ---- server -> client (response-writer.ts) ----------------------------------------------------

  /**
   * corked wraps the read that carries the response head in the client's cork, so that status,
   * headers and a body that came with them leave in one send. Later reads need no outer cork.
   */
  corked(fn: () => void): void {
    const ex = this.client;
    if (ex !== null && !this.clientDone && !this.responded) {
      this.inCork = true;
      ex.cork(fn);
      this.inCork = false;
      // reported only now: a draining worker exits on its last request, and the response
      // must have left the cork buffer by then
      if (this.finishPending) {
        this.finishPending = false;
        requestFinished();
      }
    } else fn();
  }

  /**
   * onInterim relays a server's 1xx (103 Early Hints, 102...) to the client before the final
   * response, end-to-end fields only (RFC 9110 15.2). 100 Continue is the engine's own business
   * (it answers Expect itself), so the server's is not repeated. HTTP/1.0 clients get none (the
   * engine drops them), nor does a cache fill's background exchange.
   */
  onInterim(p: ResponseParser): void {
    const ex = this.client;
    if (this.aborted || ex === null || p.statusCode === 100) return;
    interimFields.length = 0;
    const h = p.headers;
    for (let i = 0, k = 0; i < h.length; i += 2, k++) if (p.kinds[k] === HeaderKind.Other) interimFields.push(h[i]!, h[i + 1]!);
    ex.writeInterim(p.statusCode, p.reason, interimFields);
  }

  onResponseHead(p: ResponseParser): boolean {
    const ex = this.client;
    if (this.aborted || ex === null) return false;
    this.parser = p;
    this.responded = true;
    const srv = this.server;
    const now = performance.now();
    if (srv !== null) {
      srv.recordLatency(now - this.attemptAt, now);
      const fs = this.upstream.spec.passiveHealth.failStatuses;
      if (fs.length !== 0 && fs.includes(p.statusCode)) srv.countFail();
    }
    this.status = p.statusCode;
    this.headAt = now;
    if (this.tap?.onHead(p, ex)) {
      this.clientDone = true;
      return true;
    }
    this.writeHead(p);
    return true;
  }

  protected pauseUpstream(): void {
    this.conn?.pause();
  }

  protected resumeUpstream(): void {
    this.conn?.resume();
  }

  onResponseEnd(): void {
    if (this.tap !== null) this.tap.onEnd();
    this.upstreamDone = true;
    this.conn = null; // the connection returns itself to the pool
    this.endBody();
    this.maybeFinish();
  }

  // ---- failures ---------------------------------------------------------------------------------

  onUpstreamFailure(kind: FailureKind, detail: string, beforeResponse: boolean, reusedIdle: boolean): void {
    this.conn = null;
    if (this.aborted || this.client === null) {
      this.upstreamDone = true;
      this.maybeFinish();
      return;
    }
    // A keep-alive connection the server had already closed: resend once on a fresh connection,
    // when nothing of the request is lost (no body) and nothing of the response arrived.
    if (reusedIdle && beforeResponse && !this.retried && this.body === null && kind === 'reset-before-response') {
      this.retried = true;
      this.server!.metrics.retries++;
      this.connect(true);
      return;
    }
    this.server?.metrics.countError(kind);
    this.server?.countFail();
    if (!this.responded && this.retryable(kind) && this.retry(kind, detail)) return;
    if (!this.responded) return this.respondError(kind, `${kind}: ${detail}`);
    // The response already started: the client must see a broken response, not a short one.
    if (this.tap !== null) this.tap.onFailure(0, null);
    this.reason = kind;
    logFailure(this, 0, `${kind} after the response started: ${detail}`);
    this.upstreamDone = true;
    this.abortClient();
  }

  private retryable(kind: FailureKind): boolean {
    const up = this.upstream.spec;
    if (this.attempts >= up.retries) return false;
    if (this.body !== null && !this.body.replayable) return false;
    return mayRetry(kind, up.retryOn, this.idempotent, this.route.retryUnsafe === true);
  }

  /** retry moves the request to a server it has not tried yet; false when there is none. */
  private retry(kind: FailureKind, detail: string): boolean {
    const old = this.server!;
    const tried = (this.tried ??= []);
    tried.push(old);
    const next = reselect(this.upstream, this, tried);
    if (next === undefined) return false;
    this.attempts++;
    log.debug('retrying on another server', {
      requestId: requestId(this.seq),
      upstream: this.upstream.name,
      from: old.id,
      to: next.id,
      reason: `${kind}: ${detail}`,
    });
    old.countEnd();
    next.countStart();
    this.server = next;
    this.head = moveHost(this.head, this.upstream.hostHeader, old.spec.hostPort, next.spec.hostPort);
    this.body?.rewind();
    this.connect(false);
    return true;
  }

  /** expire ends the request on an edge limit: the kind's status if nothing was sent yet, else a close. */
  expire(kind: ErrorKind, reason: string): void {
    if (this.finished || this.aborted || this.client === null) return;
    this.bodyAt = -1;
    this.poolCancelled = true;
    this.queueCancelled = true;
    if (!this.responded) return this.respondError(kind, reason);
    this.reason = kind;
    logFailure(this, 0, reason);
    this.upstreamDone = true;
    if (this.conn !== null) {
      this.conn.destroy();
      this.conn = null;
    }
    this.abortClient();
  }

  /** abortClient closes the client's connection abruptly (the response had started). */
  private abortClient(): void {
    const ex = this.client!;
    this.client = null;
    this.aborted = true;
    this.releaseLeases();
    this.dropEncoder();
    ex.abort();
    this.maybeFinish();
  }

  onClientAborted(): void {
    if (this.tap !== null) this.tap.onClientAborted();
    this.aborted = true;
    this.client = null;
    this.releaseLeases();
    this.dropEncoder();
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

  /** respondError answers the client with the kind's status, unless a tap answers instead. */
  respondError(kind: ErrorKind, reason: string): void {
    const ex = this.client;
    const status = ERRORS[kind].status;
    logFailure(this, status, reason);
    this.status = status;
    this.reason = kind;
    this.upstreamDone = true;
    if (this.conn !== null) {
      this.conn.destroy();
      this.conn = null;
    }
    if (ex !== null && !this.clientDone && this.tap !== null && !this.responded && this.tap.onFailure(status, ex)) this.clientDone = true;
    if (ex !== null && !this.clientDone) {
      respondFailure(ex, kind, this.settings.responses, this.tap);
      this.bytesOut = ex.bytesWritten;
      this.clientDone = true;
    }
    this.maybeFinish();
  }

  protected maybeFinish(): void {
    if (this.finished) return;
    if (!(this.upstreamDone && (this.clientDone || this.aborted))) return;
    this.finished = true;
    untrackRequest(this);
    if (this.clientKey !== null) releaseClient(this.clientKey);
    if (this.server !== null) this.server.countEnd();
    if (this.upstream.queue.length !== 0) this.upstream.queue.drain();
    observeFinish(this, this.settings.accessLog);
    if (this.inCork) this.finishPending = true;
    else requestFinished();
  }
}
