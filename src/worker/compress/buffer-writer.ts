/**
 * BufferWriter sends a complete body that fulcrum holds itself (a cached response, a compressed
 * one) to the client at the client's pace: in pieces of at most PIECE_BYTES, the next one when the
 * exchange says the client took the last (onClientWritable). The request counts as in flight (the
 * worker's drain waits for it) until the body has left.
 */
import type { ClientExchange, ClientHandler } from '../engine/exchange.js';
import { requestFinished, requestStarted } from '../obs/activity.js';

/** the size of one write: what one upstream read delivers, so an engine holds at most this much */
const PIECE_BYTES = 64 * 1024;

export class BufferWriter implements ClientHandler {
  private at = 0;
  private done = false;

  private constructor(
    private readonly ex: ClientExchange,
    private readonly body: Buffer,
  ) {}

  /** send writes the head's end (the body's length) and the body; call after the status and fields. */
  static send(ex: ClientExchange, body: Buffer): void {
    ex.endHead(body.length, false);
    if (body.length === 0) return ex.end();
    const w = new BufferWriter(ex, body);
    if (w.pump()) return;
    requestStarted();
    ex.handler = w;
  }

  /** pump writes pieces until the client backs up; true when the whole body was taken. */
  private pump(): boolean {
    const ex = this.ex;
    const body = this.body;
    while (this.at < body.length) {
      const end = Math.min(this.at + PIECE_BYTES, body.length);
      const ok = ex.write(body, this.at, end);
      this.at = end;
      if (!ok) {
        if (end === body.length) ex.end(); // the tail left is the engine's: onClientWritable says when it is gone
        return false;
      }
    }
    ex.end();
    return true;
  }

  onClientWritable(): void {
    if (this.done) return;
    if (this.at === this.body.length || this.pump()) this.finish();
  }

  onClientAborted(): void {
    this.finish();
  }

  onClientBody(): void {}

  private finish(): void {
    if (this.done) return;
    this.done = true;
    requestFinished();
  }
}
