/**
 * BufferWriter finishes sending a complete body the client could not take at once: the response
 * cache and compression answer from a buffer they hold, and uWS back-pressure (tryEnd not done)
 * resumes the write in onWritable from the offset uWS reports.
 */
import type { HttpResponse } from '../uws.js';

/** What a BufferWriter tells its owner (the worker's in-flight count, for draining). */
export interface WriterHost {
  requestStarted(): void;
  requestFinished(): void;
}

export class BufferWriter {
  private done = false;
  aborted = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly body: Buffer,
    /** res.getWriteOffset() before the first tryEnd */
    private readonly base: number,
    private readonly host: WriterHost,
  ) {
    host.requestStarted();
    res.onAborted(() => {
      this.aborted = true;
      this.finish();
    });
    res.onWritable((offset) => this.onWritable(offset));
  }

  /** endBuffered writes body with tryEnd (call inside cork) and returns a writer when the client must catch up. */
  static endBuffered(res: HttpResponse, body: Buffer, host: WriterHost): BufferWriter | null {
    const base = res.getWriteOffset();
    const [, done] = res.tryEnd(body, body.length);
    return done ? null : new BufferWriter(res, body, base, host);
  }

  private onWritable(offset: number): boolean {
    if (this.done) return true;
    const [ok, done] = this.res.tryEnd(this.body.subarray(offset - this.base), this.body.length);
    if (done) this.finish();
    return ok;
  }

  abort(): void {
    this.aborted = true;
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.host.requestFinished();
  }
}
