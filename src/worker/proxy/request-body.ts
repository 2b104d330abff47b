/**
 * RequestBody streams a request body from the client to the server (RFC 9112 6 and 7): as
 * received with a Content-Length, re-framed by fulcrum when chunked (the engine has decoded the
 * client's chunks; extensions and trailers are dropped), with back-pressure (the exchange's body
 * is paused while the upstream socket's buffer is full, or while more than PENDING_BODY_LIMIT
 * waits for a connection), and a replay buffer so that a retry can resend a small body whole.
 *
 * One object per request that has a body; requests without one never allocate it.
 */
import type { ClientExchange } from '../engine/exchange.js';
import type { UpstreamConnection } from '../upstream/connection.js';
import { BodyMode } from './head.js';

/** body bytes buffered while no connection is assigned, before the client is paused */
const PENDING_BODY_LIMIT = 64 * 1024;
/** request bodies up to this size are kept so that a retry can resend them */
const REPLAY_BODY_LIMIT = 64 * 1024;
/** the least size of the recycled send buffer: a whole client read (64 KiB) and a head */
const SPARE_BYTES = 96 * 1024;

/**
 * The buffer sendPiece copies into, recycled once the upstream socket took a piece whole (one per
 * worker: pieces are sent one at a time, synchronously). A fresh buffer per piece was an
 * allocation outside node's pool for every piece over 4 KiB, and V8 paid for it in garbage
 * collections (POST 16 KiB: 6.6% of the worker's time in the collector, 3% allocating).
 */
let spare: Buffer | null = null;

/** What RequestBody needs from its request (ProxyRequest). */
export interface BodyOwner {
  /** the upstream request head, and whether it has left on the current connection */
  readonly head: string;
  headSent: boolean;
  readonly client: ClientExchange | null;
  /** the connection serving the request now (null: none yet, or between attempts) */
  readonly conn: UpstreamConnection | null;
  /** a retry may happen after the connection is up (idempotent method or retryUnsafe route) */
  readonly replayable: boolean;
  /** body bytes forwarded (access log) */
  bytesIn: number;
  /** performance.now() of the last body bytes while reading (-1: not reading; the idle sweep reads it) */
  bodyAt: number;
  readonly maxBodyBytes: number;
  /** the body went over maxBodyBytes */
  onBodyTooLarge(): void;
  /** a chunked body's first bytes arrived: connect now */
  onFirstBody(): void;
}

export class RequestBody {
  /** the client's body has been read completely */
  done = false;
  /** a chunked body: connect only when its first bytes arrived (a malformed first chunk reaches no server) */
  deferConnect: boolean;
  /** body chunks read before a connection was assigned */
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;
  /** the body sent so far is kept for a retry (false: retries off, or too large) */
  private keepBody: boolean;
  private sent: Buffer[] | null = null;
  private sentBytes = 0;
  private clientPaused = false;
  /** bytes read from the client, against maxBodyBytes */
  private bytes = 0;

  constructor(
    private readonly owner: BodyOwner,
    readonly mode: BodyMode,
    retries: boolean,
  ) {
    this.keepBody = retries;
    this.deferConnect = mode === BodyMode.Chunked;
  }

  /** onClientBody takes a piece of the client's body (valid only during the call). */
  onClientBody(buf: Buffer, start: number, end: number, isLast: boolean): void {
    const o = this.owner;
    const n = end - start;
    o.bodyAt = isLast ? -1 : performance.now();
    if ((this.bytes += n) > o.maxBodyBytes) {
      o.onBodyTooLarge();
      return;
    }
    if (this.deferConnect) {
      this.deferConnect = false;
      if (isLast) this.done = true;
      if (n > 0) {
        (this.pending ??= []).push(Buffer.copyBytesFrom(buf, start, n));
        this.pendingBytes += n;
      }
      o.onFirstBody();
      return;
    }
    if (n > 0) {
      o.bytesIn += n;
      const conn = o.conn;
      if (conn === null) {
        // the engine reuses its buffer when we return: copy it
        (this.pending ??= []).push(Buffer.copyBytesFrom(buf, start, n));
        this.pendingBytes += n;
        if (this.pendingBytes > PENDING_BODY_LIMIT) this.pauseClient();
      } else {
        const ok = this.sendPiece(conn, buf, start, end, isLast); // ends the body when isLast
        if (isLast) return;
        if (!ok) this.pauseClient();
      }
    }
    if (isLast) {
      this.done = true;
      const conn = o.conn;
      if (conn !== null) {
        conn.socket.cork();
        if (!o.headSent) this.sendHead(conn);
        this.endBody(conn);
        conn.socket.uncork();
      }
    }
  }

  /**
   * attach writes the head and what is buffered to a new connection (a retry's too); with no body
   * bytes yet, the head waits for the first of them (one send).
   */
  attach(conn: UpstreamConnection): void {
    const pending = this.pending;
    if (pending === null && !this.done) return;
    const sock = conn.socket;
    sock.cork();
    this.sendHead(conn);
    if (pending !== null) {
      for (const b of pending) this.writeBody(conn, b);
      this.pending = null;
      this.pendingBytes = 0;
    }
    if (this.done) this.endBody(conn);
    sock.uncork();
    if (this.clientPaused && sock.writableLength < sock.writableHighWaterMark) this.resumeClient();
  }

  /** rewind makes the kept body the pending one, for a retry on another server; false when it was not kept. */
  rewind(): boolean {
    if (!this.keepBody) return false;
    this.pending = this.sent;
    this.pendingBytes = this.sentBytes;
    this.sent = null;
    this.sentBytes = 0;
    return true;
  }

  /** replayable: a retry can resend the whole body */
  get replayable(): boolean {
    return this.keepBody;
  }

  /** onUpstreamDrain: the socket took what was written; read more from the client. */
  onUpstreamDrain(): void {
    if (this.clientPaused) this.resumeClient();
  }

  private sendHead(conn: UpstreamConnection): void {
    conn.write(this.owner.head);
    this.owner.headSent = true;
  }

  /**
   * sendPiece copies a piece of the client's body out of the engine's buffer (reused when the
   * handler returns) into one buffer (recycled: see `spare`), together with what goes before and after it on the wire
   * (the request head if it has not left yet, chunk framing, the last chunk), and writes that in
   * one call: one copy and one plain write, instead of a copy plus cork/uncork (node's Writable
   * then builds a writev, copying the head string once more).
   */
  private sendPiece(conn: UpstreamConnection, buf: Buffer, start: number, end: number, isLast: boolean): boolean {
    const n = end - start;
    const chunked = this.mode === BodyMode.Chunked;
    const o = this.owner;
    const head = o.headSent ? '' : o.head;
    const hex = chunked ? n.toString(16) + '\r\n' : '';
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    const size = head.length * 3 + hex.length + n + (chunked ? 2 : 0) + (chunked && isLast ? 5 : 0);
    let out = spare;
    if (out !== null && out.length >= size) spare = null;
    // a small piece without the spare at hand: node's pool is cheap for it (and it is not recycled)
    else out = size <= 4096 ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(Math.max(size, SPARE_BYTES));
    let at = head.length === 0 ? 0 : out.write(head, 0, 'utf8');
    if (chunked) at += out.write(hex, at, 'latin1');
    const dataAt = at;
    buf.copy(out, at, start, end);
    at += n;
    if (chunked) {
      out[at++] = 13;
      out[at++] = 10;
      if (isLast) at += out.write('0\r\n\r\n', at, 'latin1');
    }
    o.headSent = true;
    this.keep(conn, out, dataAt, dataAt + n);
    if (isLast) {
      this.done = true;
      conn.requestDone = true;
    }
    const ok = conn.write(out.subarray(0, at));
    // taken whole by the kernel during the call (node keeps no reference) and not kept for a
    // retry: the next piece may reuse the buffer
    if (out.length >= SPARE_BYTES && !this.keepBody && conn.socket.writableLength === 0) spare = out;
    return ok;
  }

  /** keep holds on to b[start, end), a piece of the body sent, for a retry (up to REPLAY_BODY_LIMIT). */
  private keep(conn: UpstreamConnection, b: Buffer, start: number, end: number): void {
    // Only a connect failure lets a non-idempotent request be retried (failure.ts): once its
    // connection is up, a kept copy of the body could never be resent.
    if (this.keepBody && !conn.connecting && !this.owner.replayable) {
      this.keepBody = false;
      this.sent = null;
    }
    if (!this.keepBody) return;
    this.sentBytes += end - start;
    if (this.sentBytes <= REPLAY_BODY_LIMIT) (this.sent ??= []).push(start === 0 && end === b.length ? b : b.subarray(start, end));
    else {
      this.keepBody = false;
      this.sent = null;
    }
  }

  private writeBody(conn: UpstreamConnection, b: Buffer): boolean {
    this.keep(conn, b, 0, b.length);
    if (this.mode === BodyMode.Chunked) {
      conn.write(b.length.toString(16) + '\r\n');
      conn.write(b);
      return conn.write('\r\n');
    }
    return conn.write(b);
  }

  private endBody(conn: UpstreamConnection): void {
    if (this.mode === BodyMode.Chunked) conn.write('0\r\n\r\n');
    conn.requestDone = true;
  }

  private pauseClient(): void {
    const c = this.owner.client;
    if (!this.clientPaused && c !== null) {
      this.clientPaused = true;
      c.pauseBody();
    }
  }

  private resumeClient(): void {
    this.clientPaused = false;
    this.owner.client?.resumeBody();
  }
}
