/**
 * ExchangeDuplex: the client side of a WebSocket tunnel that is an HTTP/2 stream (RFC 8441
 * extended CONNECT, answered 200 by proxy/tunnel.ts) as the Duplex a TunnelRelay moves bytes
 * with, as it does with an HTTP/1.1 client's socket. Built on the ClientExchange seam only
 * (engine/exchange.ts), so both HTTP/2 implementations behave alike:
 *
 * - client to server: the stream's DATA (ClientHandler.onClientBody) are pushed as copies (a
 *   piece is valid only during the call); when the readable side is full (the relay paused it
 *   because the server's socket is backed up) the exchange's body is paused, which withholds
 *   WINDOW_UPDATE: the client stops (RFC 9113 5.2). _read resumes it. END_STREAM is the end of the
 *   readable side (the relay passes it on as a FIN).
 * - server to client: write() goes to ClientExchange.write; when that says the client is backed up,
 *   the write's callback waits for onClientWritable, so the Duplex's own buffer fills and its
 *   write() returns false: the relay pauses the server's socket. end() is END_STREAM.
 * - destroy() without the client having left aborts the exchange (RST_STREAM CANCEL); the client's
 *   RST_STREAM or its connection closing (onClientAborted) destroys the Duplex, so the relay
 *   closes the server's socket.
 * What is held per direction: the Duplex's high-water mark, one piece, and the exchange's own
 * bound (about 64 KiB, or the stream's flow-control window on the way in).
 */
import { Duplex } from 'node:stream';
import type { ClientExchange, ClientHandler } from '../engine/exchange.js';

/** octets each side of the Duplex holds before it says so (the exchange holds as much again) */
const HIGH_WATER = 64 * 1024;

export class ExchangeDuplex extends Duplex implements ClientHandler {
  /** the callback of a write the exchange could not take at once */
  private pending: ((err?: Error | null) => void) | null = null;
  /** the client left (reset the stream or closed its connection): nothing to abort */
  private gone = false;

  constructor(private readonly ex: ClientExchange) {
    super({ allowHalfOpen: true, readableHighWaterMark: HIGH_WATER, writableHighWaterMark: HIGH_WATER });
    ex.handler = this;
    ex.readBody();
  }

  // ---- ClientHandler ------------------------------------------------------------------------

  onClientBody(buf: Buffer, start: number, end: number, last: boolean): void {
    if (this.destroyed) return;
    if (end > start && !this.push(Buffer.from(buf.subarray(start, end)))) this.ex.pauseBody();
    if (last) this.push(null);
  }

  onClientWritable(): void {
    const cb = this.pending;
    this.pending = null;
    cb?.();
  }

  onClientAborted(): void {
    this.gone = true;
    this.destroy();
  }

  // ---- Duplex -----------------------------------------------------------------------------

  override _read(): void {
    this.ex.resumeBody();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.ex.write(chunk, 0, chunk.length)) cb();
    else this.pending = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.ex.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.pending = null;
    // both directions ended cleanly (autoDestroy): the exchange sends what it still holds, then END_STREAM
    if (!this.gone && !(this.writableFinished && this.readableEnded)) this.ex.abort();
    cb(err);
  }
}
