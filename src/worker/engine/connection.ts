/**
 * Http1Connection is one HTTP/1.x client connection on a node:net or node:tls socket: it parses
 * requests (http1-parser.ts), hands each to the worker's handler as an exchange
 * (http1-exchange.ts) and keeps the connection's rules (RFC 9112 9):
 *
 * - Persistence: HTTP/1.1 keeps the connection unless either side says Connection: close;
 *   HTTP/1.0 only with Connection: keep-alive. After a request with close, or an Upgrade, no
 *   further request is parsed (RFC 9112 9.6).
 * - Pipelining: requests are answered one at a time, in order. Up to pipelineDepth requests
 *   without a body are parsed ahead; beyond that, or while a body waits for its handler, the
 *   socket is not read (back-pressure: TCP slows the client down). What is not parsed yet stays
 *   in the buffer node read it into (no copy).
 * - Request bodies reach the handler once it calls readBody() (then 100 Continue is sent when
 *   asked for); a body the handler did not read when its response completed is read and dropped
 *   up to discardBodyBytes, or the response says Connection: close.
 * - Errors in a request (400, 413, 414, 431, 501, 505...) are answered in turn with
 *   Connection: close, and nothing after them is parsed; the socket is then half-closed and what
 *   the client still sends is drained for lingerMs (nginx's lingering close), so that it reads
 *   the answer instead of a reset. The same when fulcrum ends a connection (draining, a response
 *   without a length on HTTP/1.0); when the client asked for the close and sent nothing more on
 *   plain TCP, the socket just closes after the response (closeNow).
 * - Socket plumbing (listeners, writes, waiting for the socket to drain): client-socket.ts.
 * - Timeouts (timeouts.ts): a head must be complete headerMs after its first byte (never reset
 *   per byte: slowloris-safe; 408 is sent), a new connection must start one within headerMs, an
 *   idle kept-alive connection is closed after keepAliveMs. While a request is being served the
 *   engine has no timer: the proxy's sweep (guard/limits.ts) covers body idle and total time.
 * - Draining: each connection closes after its current response (Connection: close); idle ones
 *   close at once.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { log } from '../../log.js';
import { ClientSocket } from './client-socket.js';
import { countRejection, errorAnswer } from './engine-answers.js';
import type { EngineOptions } from './engine-options.js';
import type { ClientPeer, RequestHandler } from './exchange.js';
import { Http1Exchange } from './http1-exchange.js';
import { RequestParser, type RequestSink } from './http1-parser.js';
import { clientPeer } from './peer.js';
import { countTimeout, now, type Timed, timeoutLabel, track, untrack, Wait } from './timeouts.js';

/** What a connection needs from its listener. */
export interface ConnectionHost {
  readonly options: EngineOptions;
  readonly handler: RequestHandler;
  forget(c: Http1Connection): void;
}

const EMPTY = Buffer.alloc(0);
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

export class Http1Connection extends ClientSocket implements RequestSink, Timed {
  readonly parser: RequestParser;
  readonly peer: ClientPeer;
  draining = false;
  // Timed
  wait = Wait.Head;
  deadline: number;
  slot = -1;

  /** the exchange being answered */
  private active: Http1Exchange | null = null;
  /** parsed, waiting for the active one to finish (in order) */
  private readonly pending: Http1Exchange[] = [];
  /** the exchange whose body the parser is in */
  private bodyOwner: Http1Exchange | null = null;
  /** bytes read but not parsed yet: input[inputAt, inputEnd) */
  private input: Buffer | null = null;
  private inputAt = 0;
  private inputEnd = 0;
  /** a request error to answer once the exchanges before it are done */
  private errorStatus = 0;
  /** no request after the ones parsed so far (Connection: close, Upgrade, an error, the client's FIN) */
  private noMoreRequests = false;
  /** the socket is ending (lingering) or gone */
  private closing = false;
  private closed = false;
  private detached = false;
  private driving = false;
  private again = false;
  /** a head timer runs for the head being read */
  private headArmed = false;
  private served = 0;
  private discarded = 0;

  constructor(
    private readonly host: ConnectionHost,
    socket: net.Socket,
    secure: boolean,
    sharedReads: boolean,
  ) {
    super(socket, secure, sharedReads);
    this.peer = clientPeer(socket.remoteAddress);
    this.parser = new RequestParser(this, host.options.limits);
    this.deadline = now() + host.options.headerMs;
    track(this);
  }

  // ---- socket events ----------------------------------------------------------------------

  /** onRead: a read into the worker's shared buffer (onread sockets): parse, then keep a copy of what is left */
  onRead(n: number, buf: Buffer): boolean {
    // handed over (detach): the new owner reads 'data' events, with bytes of their own
    if (this.detached) return this.socket.push(Buffer.from(buf.subarray(0, n)));
    if (this.closing) return true;
    if (this.input !== null) {
      this.input = Buffer.concat([this.input.subarray(this.inputAt, this.inputEnd), buf.subarray(0, n)]);
      this.inputAt = 0;
      this.inputEnd = this.input.length;
      this.drive();
      return true;
    }
    this.input = buf;
    this.inputAt = 0;
    this.inputEnd = n;
    this.drive();
    if (this.input === buf) {
      this.input = Buffer.from(buf.subarray(this.inputAt, this.inputEnd));
      this.inputAt = 0;
      this.inputEnd = this.input.length;
    }
    return true;
  }

  onData(buf: Buffer): void {
    if (this.closing) return; // lingering: drop what the client still sends
    if (this.input !== null) {
      // more bytes while parsing was held up (the socket pauses asynchronously): join them
      this.input = Buffer.concat([this.input.subarray(this.inputAt, this.inputEnd), buf]);
    } else this.input = buf;
    this.inputAt = 0;
    this.inputEnd = this.input.length;
    this.drive();
  }

  onEnd(): void {
    // The client's FIN. With nothing in flight: close our side too. With a request in flight or
    // waiting, the client is taken to have left (as nginx, proxy_ignore_client_abort off, and the
    // uWS front): the exchanges are aborted so that the server's work stops. (HAProxy serves
    // half-closed clients unless "option abortonclose"; no common HTTP client half-closes.)
    if (this.closing) return; // lingering: both sides ended, node destroys the socket
    if (this.active === null && this.pending.length === 0 && this.errorStatus === 0 && !this.parser.inHead && !this.parser.inBody) this.close();
    else this.destroy();
  }

  onError(err: NodeJS.ErrnoException): void {
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') log.debug('client connection error', { ip: this.peer.ip, error: err.code ?? err.message });
  }

  onClose(): void {
    this.closed = this.closing = true;
    this.wait = Wait.None;
    untrack(this);
    this.host.forget(this);
    const a = this.active;
    this.active = this.bodyOwner = null;
    this.forgetWaiters();
    this.pending.length = 0;
    this.input = null;
    if (a !== null) a.clientGone();
  }

  // ---- the parse/dispatch loop --------------------------------------------------------------

  /** kick runs the loop now, or once more when it is already running. */
  kick(): void {
    if (this.driving) this.again = true;
    else if (!this.closed) this.drive();
  }

  private drive(): void {
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = true;
    try {
      do {
        this.again = false;
        if (this.active === null) this.next();
        while (this.input !== null && this.canParse()) {
          const at = this.parser.feed(this.input, this.inputAt, this.inputEnd);
          this.inputAt = at;
          if (at >= this.inputEnd) this.input = null;
          if (this.active === null) this.next();
        }
      } while (this.again && !this.closed);
    } finally {
      this.driving = false;
    }
    if (!this.closed) this.settle();
  }

  /** canParse: may the parser take more bytes now? */
  private canParse(): boolean {
    if (this.closing || this.parser.failed) return false;
    if (this.parser.inBody) {
      const o = this.bodyOwner;
      return o !== null && (o.discarding || (o.reading && !o.bodyPaused));
    }
    if (this.noMoreRequests) return false;
    // draining: only the head already begun on an otherwise idle connection
    if (this.draining && (this.active !== null || this.pending.length > 0)) return false;
    return this.pending.length < this.host.options.pipelineDepth;
  }

  /** next makes the first waiting exchange the active one, or answers a pending error. */
  private next(): void {
    if (this.closing) return;
    const ex = this.pending.shift();
    if (ex === undefined) {
      if (this.errorStatus !== 0) this.sendError();
      else if (this.draining && this.served > 0 && !this.parser.inHead && this.input === null) this.close();
      return;
    }
    this.active = ex;
    try {
      this.host.handler(ex);
    } catch (err) {
      this.handlerThrew(ex, err);
    }
  }

  /** settle pauses or resumes the socket and sets the timer for what the connection waits for. */
  private settle(): void {
    const s = this.socket;
    if (this.closing || this.canParse()) {
      if (s.isPaused()) s.resume();
    } else if (!s.isPaused()) s.pause();
    if (this.closing) return;
    const opts = this.host.options;
    if (this.active !== null || this.pending.length > 0) {
      if (this.active?.discarding) this.setWait(Wait.Discard, opts.headerMs);
      else this.wait = Wait.None;
    } else if (this.parser.inHead) {
      if (!this.headArmed) {
        this.headArmed = true;
        this.wait = Wait.Head;
        this.deadline = now() + opts.headerMs;
      }
    } else if (this.served > 0) this.setWait(Wait.KeepAlive, opts.keepAliveMs);
  }

  private setWait(w: Wait, ms: number): void {
    if (this.wait === w) return;
    this.wait = w;
    this.deadline = now() + ms;
  }

  // ---- RequestSink ------------------------------------------------------------------------

  onRequestHead(p: RequestParser): boolean {
    const ex = new Http1Exchange(this, p);
    this.headArmed = false;
    this.wait = Wait.None; // the next idle period gets a fresh deadline
    if (!p.keepAlive || ex.tunnel) this.noMoreRequests = true;
    if (!ex.bodyDone) this.bodyOwner = ex;
    this.pending.push(ex);
    return false; // the loop dispatches, then goes on if it may
  }

  onRequestBody(buf: Buffer, start: number, end: number, last: boolean): boolean {
    const o = this.bodyOwner!;
    if (last) {
      o.bodyDone = true;
      this.bodyOwner = null;
    }
    if (o.discarding) {
      this.discarded += end - start;
      if (this.discarded > this.host.options.discardBodyBytes) {
        this.close();
        return false;
      }
      if (last && o === this.active) this.active = null;
      return true;
    }
    const h = o.handler;
    if (h !== null && !o.ended) {
      try {
        h.onClientBody(buf, start, end, last);
      } catch (err) {
        this.handlerThrew(o, err);
      }
    }
    return !o.bodyPaused && !this.closing;
  }

  onRequestError(status: number, reason: string): void {
    log.debug('request refused', { ip: this.peer.ip, status, reason });
    countRejection(status);
    this.noMoreRequests = true;
    this.errorStatus = status;
    const o = this.bodyOwner;
    if (o === null) return;
    // the body in progress is broken
    this.bodyOwner = null;
    if (o !== this.active) {
      this.pending.pop(); // not dispatched yet: the error is answered in its place
      return;
    }
    if (o.discarding) {
      this.errorStatus = 0; // its response is out: just close
      this.close();
    } else if (!o.responded) {
      o.clientGone();
      this.active = null; // next() answers the error
    } else {
      o.clientGone();
      this.destroy();
    }
  }

  // ---- what exchanges call ------------------------------------------------------------------

  /** startBody: the active exchange called readBody (100 Continue if the client waits for it). */
  startBody(ex: Http1Exchange): void {
    if (ex !== this.active) return;
    if (ex.bodyDone) {
      // no body: one empty last piece, as for a body that ended
      const h = ex.handler;
      if (h !== null)
        try {
          h.onClientBody(EMPTY, 0, 0, true);
        } catch (err) {
          this.handlerThrew(ex, err);
        }
      return;
    }
    if (ex.expectContinue && !ex.continueSent && !ex.responded && this.parser.bodyBytes === 0 && this.input === null) {
      ex.continueSent = true;
      this.socket.write(CONTINUE);
    }
    this.kick();
  }

  /** mayKeepAlive: may the connection carry another request after this exchange's response? */
  mayKeepAlive(ex: Http1Exchange): boolean {
    if (this.draining || this.closing || !ex.keepAlive) return false;
    if (!ex.bodyDone) {
      // the client waits for 100 Continue that will never come: it may not send the body at all
      if (ex.expectContinue && !ex.continueSent && this.parser.bodyBytes === 0 && this.input === null) return false;
      if (ex.bodyLength > 0 && ex.bodyLength - this.parser.bodyBytes > this.host.options.discardBodyBytes) return false;
    }
    return true;
  }

  /** responseDone: the active exchange's response is complete. */
  responseDone(ex: Http1Exchange): void {
    if (ex !== this.active) return;
    this.served++;
    if (ex.closeAfter || this.draining) {
      if (!ex.keepAlive && this.quiet(ex)) this.closeNow();
      else this.close();
      return;
    }
    if (ex.bodyDone) this.active = null;
    else {
      ex.discarding = true; // the rest of the body is read and dropped; the next request waits for it
      this.discarded = 0;
    }
    this.kick();
  }

  /** abortExchange closes the connection abruptly (a reset on TCP), so that no client takes a cut response for a complete one. */
  abortExchange(ex: Http1Exchange): void {
    if (ex === this.active) this.active = null;
    this.destroy(true);
  }

  /** detach hands the socket over (a tunnel): paused, with the bytes already read after the head. */
  detach(): { socket: Duplex; head: Buffer } {
    const s = this.socket;
    // a copy: the input may be the shared read buffer
    const head = this.input === null ? EMPTY : Buffer.from(this.input.subarray(this.inputAt, this.inputEnd));
    this.input = null;
    this.closed = this.closing = this.detached = true;
    this.wait = Wait.None;
    this.active = null;
    untrack(this);
    this.host.forget(this);
    s.pause();
    this.unlisten();
    return { socket: s, head };
  }

  /**
   * drain: close after the current response; a kept-alive idle connection closes at once. A
   * connection that has not sent its first request yet is given it (answered with
   * Connection: close, within headerMs): it was opened to send one, and closing it unanswered
   * would only make the client retry elsewhere.
   */
  drain(): void {
    if (this.draining || this.closing) return;
    this.draining = true;
    if (this.served > 0 && this.active === null && this.pending.length === 0 && !this.parser.inHead && !this.parser.inBody) this.close();
    else this.kick();
  }

  // ---- timers, closing --------------------------------------------------------------------

  expire(): void {
    const w = this.wait;
    this.wait = Wait.None;
    if (w === Wait.Linger) {
      this.socket.destroy();
      return;
    }
    countTimeout(w);
    log.debug('client timeout', { ip: this.peer.ip, kind: timeoutLabel(w) });
    if (w === Wait.Head && this.parser.inHead && this.active === null && this.pending.length === 0) {
      this.parser.fail();
      this.noMoreRequests = true;
      this.errorStatus = 408;
      countRejection(408);
      this.sendError();
      return;
    }
    this.destroy();
  }

  /** sendError answers the pending request error and closes. */
  private sendError(): void {
    const a = errorAnswer(this.errorStatus, this.host.options.errorPage, this);
    this.errorStatus = 0;
    if (typeof a === 'string') this.socket.write(a);
    else this.writeParts([a[0]], a[1]);
    this.close();
  }

  /** close ends the connection gracefully: FIN after what is written, then linger. */
  private close(): void {
    if (this.closing) return;
    this.closing = true;
    this.noMoreRequests = true;
    this.pending.length = 0;
    this.input = null;
    this.wait = Wait.Linger;
    this.deadline = now() + this.host.options.lingerMs;
    this.socket.end();
    if (this.socket.isPaused()) this.socket.resume();
  }

  /**
   * quiet: nothing is left to linger for after `ex`, the last exchange: plain TCP, its request
   * read to the end, nothing read after it, its response handed to the kernel entirely.
   */
  private quiet(ex: Http1Exchange): boolean {
    return !this.secure && ex.bodyDone && this.input === null && this.pending.length === 0 && !this.parser.inHead && this.socket.writableLength === 0;
  }

  /**
   * closeNow closes without lingering, when the client asked for the close (Connection: close, or
   * HTTP/1.0 without keep-alive) and the connection is quiet: the kernel sends what was written,
   * then the FIN. nginx lingers only when input is left too; a new connection per request then
   * costs no shutdown, no wait for the client's FIN and no second pass through the socket's end.
   */
  private closeNow(): void {
    this.closing = this.noMoreRequests = true;
    this.wait = Wait.None;
    this.socket.destroy();
  }

  private destroy(reset = false): void {
    if (this.closed) return;
    this.closing = true;
    const s = this.socket;
    if (reset && !this.secure) s.resetAndDestroy();
    else s.destroy();
  }

  protected handlerThrew(ex: Http1Exchange, err: unknown): void {
    log.error('request handler threw', { error: (err as Error)?.stack ?? String(err) });
    if (ex.ended) return;
    if (!ex.responded) ex.respond(500, 'Internal Server Error', [], '500 Internal Server Error\n', true);
    else ex.abort();
  }
}
