/**
 * UpstreamConnection is one keep-alive HTTP/1.1 connection to a server, on a raw node:net socket.
 *
 * Reads land in one buffer shared by every upstream socket of the worker (`onread`, see
 * read-buffer.ts), so a read allocates nothing: node:net would otherwise allocate a fresh 64 KiB
 * buffer per read, and glibc returning and re-faulting that memory halves throughput on large
 * bodies (BENCHMARKS.md, "Recycled spill buffers"). The consequence is a rule: whatever is handed
 * to the UpstreamHandler is valid only during the call, unless it retains the buffer (read-buffer.ts).
 *
 * One timer covers the whole life of the socket (socket.setTimeout), re-armed per phase:
 * connecting (timeouts.upstreamConnectMs), serving (timeouts.upstreamResponseMs, as silence
 * between reads), idle in the pool (keepAlive.idleTimeoutMs).
 */
import net from 'node:net';
import type { FailureKind } from '../../errors.js';
import { ResponseParser, type ResponseSink } from './response-parser.js';
import type { ConnectionPool } from './pool.js';
import { addReader, readBufferFor, removeReader, type BufferReader } from './read-buffer.js';

/** UpstreamHandler is the request a connection is serving (implemented by ProxyRequest). */
export interface UpstreamHandler extends Omit<ResponseSink, 'onResponseError'> {
  /** the connection failed; `reusedIdle` tells whether it came from the idle pool */
  onUpstreamFailure(kind: FailureKind, detail: string, beforeResponse: boolean, reusedIdle: boolean): void;
  /** the socket's write buffer drained: more request body may flow */
  onUpstreamDrain(): void;
  /** corked runs fn at once, inside the client response's cork when there is one (one send per read) */
  corked(fn: () => void): void;
}

// The read being parsed, for feedRead: exchanges run it inside their client's cork, so that
// everything one read produces (head, body, end) reaches the client in one send. A module
// variable and function instead of a closure per read.
let reading: UpstreamConnection | null = null;
let readBuf: Buffer | null = null;
let readLen = 0;
function feedRead(): void {
  reading!.parser.feed(readBuf!, 0, readLen);
}

const enum Phase {
  Connecting,
  Busy,
  Idle,
  Closed,
}

export class UpstreamConnection implements ResponseSink, BufferReader {
  readonly socket: net.Socket;
  readonly parser: ResponseParser;
  exchange: UpstreamHandler | null = null;
  /** the buffer the socket reads into (the shared one; read-buffer.ts may switch it) */
  readBuf: Buffer;
  /** requests assigned to this connection so far */
  requests = 0;
  /** the current request's body has been written completely */
  requestDone = true;
  private phase = Phase.Connecting;
  private lastError: NodeJS.ErrnoException | null = null;
  /** the response of the current exchange completed during the current read */
  private finished = false;
  private reusedIdle = false;
  private timeoutMs = -1;

  constructor(readonly pool: ConnectionPool) {
    this.parser = new ResponseParser(this);
    this.readBuf = readBufferFor();
    this.socket = net.connect({
      host: pool.opts.host,
      port: pool.opts.port,
      noDelay: true,
      // the read landed in this.readBuf: node passes the buffer it was given first, even after a switch
      onread: { buffer: this.readBuf, callback: (n: number) => this.onRead(n) },
    });
    addReader(this);
    this.armTimeout(pool.opts.connectTimeoutMs);
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('timeout', () => this.onTimeout());
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err;
    });
    this.socket.on('close', () => this.onClose());
    this.socket.on('drain', () => this.exchange?.onUpstreamDrain());
  }

  get connecting(): boolean {
    return this.phase === Phase.Connecting;
  }

  get usable(): boolean {
    return this.phase !== Phase.Closed && !this.socket.destroyed;
  }

  /** assign starts serving an exchange; the caller writes the request next. */
  assign(ex: UpstreamHandler, isHeadRequest: boolean, fromIdle: boolean): void {
    this.exchange = ex;
    this.requests++;
    this.requestDone = false;
    this.finished = false;
    this.reusedIdle = fromIdle;
    this.parser.reset(isHeadRequest);
    if (this.phase === Phase.Idle) {
      this.phase = Phase.Busy;
      this.armTimeout(this.pool.opts.responseTimeoutMs);
    }
  }

  /** write sends request bytes; false means the socket buffer is full (wait for onUpstreamDrain). */
  write(data: string | Buffer): boolean {
    return this.socket.write(data);
  }

  /** detach forgets the exchange and closes the socket: used when the client went away or the response failed. */
  destroy(): void {
    this.exchange = null;
    if (this.phase !== Phase.Closed) this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /**
   * armTimeout sets the socket's inactivity timeout. An unchanged value is left alone: node
   * allocates a new timer and bound function per setTimeout call, and every read and write
   * restarts the running timer anyway (the request written next restarts it).
   */
  private armTimeout(ms: number): void {
    if (ms === this.timeoutMs) return;
    this.timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  // ---- socket events ----------------------------------------------------------------------

  private onConnect(): void {
    if (this.phase !== Phase.Connecting) return;
    this.phase = this.exchange ? Phase.Busy : Phase.Idle;
    this.armTimeout(this.exchange ? this.pool.opts.responseTimeoutMs : this.pool.opts.idleTimeoutMs);
  }

  private onRead(n: number): boolean {
    const ex = this.exchange;
    if (!ex) {
      // bytes on an idle connection: the server is confused or closing; never reuse it
      this.socket.destroy();
      return false;
    }
    reading = this;
    readBuf = this.readBuf;
    readLen = n;
    ex.corked(feedRead);
    reading = readBuf = null;
    if (this.finished) this.release();
    return true;
  }

  private onTimeout(): void {
    const ex = this.exchange;
    if (this.phase === Phase.Connecting && ex) {
      this.fail(ex, 'connect-timeout', `no connection within ${this.pool.opts.connectTimeoutMs} ms`);
    } else if (this.phase === Phase.Busy && ex) {
      this.fail(ex, 'response-timeout', `no data from the server for ${this.pool.opts.responseTimeoutMs} ms`);
    }
    this.socket.destroy();
  }

  private onClose(): void {
    const wasConnecting = this.phase === Phase.Connecting;
    this.phase = Phase.Closed;
    removeReader(this);
    this.pool.forget(this);
    const ex = this.exchange;
    if (!ex) return;
    // EOF: a close-delimited body ends here
    if (this.parser.finish()) {
      this.exchange = null;
      return;
    }
    if (this.parser.failed) return;
    const err = this.lastError;
    if (wasConnecting) {
      this.fail(ex, 'connect-refused', err ? `${err.code ?? err.message}` : 'connection closed while connecting');
    } else if (!this.parser.started) {
      this.fail(ex, 'reset-before-response', err ? `${err.code ?? err.message}` : 'server closed the connection before responding');
    } else {
      this.fail(ex, 'truncated', err ? `${err.code ?? err.message}` : 'server closed the connection mid-response');
    }
  }

  private fail(ex: UpstreamHandler, kind: FailureKind, detail: string): void {
    this.exchange = null;
    const before = !this.parser.started;
    ex.onUpstreamFailure(kind, detail, before, this.reusedIdle);
  }

  /** release hands the connection back to the pool (or closes it) after a complete response. */
  private release(): void {
    this.finished = false;
    this.exchange = null;
    const reusable =
      this.requestDone &&
      this.parser.keepAlive &&
      !this.parser.trailingGarbage &&
      this.requests < this.pool.opts.maxRequestsPerConnection &&
      this.phase === Phase.Busy;
    if (!reusable) {
      this.socket.destroy();
      return;
    }
    this.phase = Phase.Idle;
    if (this.socket.isPaused()) this.socket.resume(); // paused for a slow client during the last response
    this.armTimeout(this.pool.opts.idleTimeoutMs);
    this.pool.release(this);
  }

  // ---- ResponseSink: forward to the exchange ------------------------------------------------

  onResponseHead(p: ResponseParser): boolean {
    return this.exchange ? this.exchange.onResponseHead(p) : false;
  }

  onResponseBody(buf: Buffer, start: number, end: number): void {
    this.exchange?.onResponseBody(buf, start, end);
  }

  onInterim(p: ResponseParser): void {
    this.exchange?.onInterim?.(p);
  }

  onResponseEnd(): void {
    const ex = this.exchange;
    this.finished = true;
    ex?.onResponseEnd();
  }

  onResponseError(reason: string): void {
    const ex = this.exchange;
    this.exchange = null;
    this.socket.destroy();
    ex?.onUpstreamFailure('invalid-response', reason, false, false);
  }
}
