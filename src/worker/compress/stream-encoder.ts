/**
 * StreamEncoder compresses a relayed body as it streams, as nginx's gzip filter does: the response
 * writer hands it the server's body pieces (response-writer.ts, BodyEncoder), it writes the
 * compressed bytes to the client exchange, and it tells the writer when to pause the server.
 * Used for bodies without a Content-Length (chunked, close-delimited) and for those above
 * compression.maxBytes; the client's response is framed with chunked (or close on HTTP/1.0).
 *
 * Flow, with memory bounded per response:
 *   - a piece is copied into a staging buffer (64 KiB, recycled): the upstream read buffer is
 *     shared and reused by the next read, while the codec reads its input later on a pool thread.
 *     The copy costs about 1% of compressing the same bytes.
 *   - staged input goes to the codec at the end of the current read (one microtask for every
 *     encoder with input): one thread-pool trip per read however many chunks it held, and only
 *     when the codec is idle and the client is not backed up. Meanwhile input stays staged, and
 *     write() returns false once STAGE_BYTES wait: a slow codec pauses the server, and so does a
 *     slow client (whose exchange returned false). At most STAGE_BYTES plus the rest of one read
 *     are staged, and the codec's output the client has not taken is at most what the input in
 *     flight produces.
 *   - flushed types (compression.flushTypes, text/event-stream by default): a sync flush follows
 *     each read's input, so that every event the server sent reaches the client at once.
 *   - end: the staged rest, then a FINISH flush; the exchange ends, and the codec is reset for the
 *     next response (codecs.ts). The whole compressed body can be kept for the response cache
 *     (VariantSink), up to a limit.
 */
import { log } from '../../log.js';
import type { ClientExchange } from '../engine/exchange.js';
import type { BodyEncoder, EncoderOwner } from '../proxy/response-writer.js';
import type { Codec, CodecOwner, CodecPool } from './codecs.js';
import { compressStats } from './compressor.js';
import type { Alg } from './negotiate.js';

/** input staged while the codec works, before the server is paused (and the staging buffer size) */
const STAGE_BYTES = 64 * 1024;
/** recycled staging buffers kept by the worker */
const STAGE_KEEP = 64;
const stageFree: Buffer[] = [];

/** VariantSink receives the whole compressed body once the stream finished (the cache stores it), or null. */
export interface VariantSink {
  onVariant(alg: Alg, body: Buffer | null): void;
}

// encoders with input to hand to their codec at the end of the current read (no closure per encoder)
const due: StreamEncoder[] = [];
let dueScheduled = false;
function submitDue(): void {
  dueScheduled = false;
  for (let i = 0; i < due.length; i++) due[i]!.submit();
  due.length = 0;
}

export class StreamEncoder implements BodyEncoder, CodecOwner {
  private codec: Codec | null = null;
  private ex: ClientExchange | null = null;
  private owner: EncoderOwner | null = null;
  /** input copied and not yet handed to the codec; the last buffer is filled up to fillAt */
  private readonly staged: Buffer[] = [];
  private stagedBytes = 0;
  private fillAt = 0;
  /** what the codec has not consumed yet, in order: staging buffers, and null for a flush */
  private readonly inflight: (Buffer | null)[] = [];
  /** in the `due` list */
  private queued = false;
  private flushWanted = false;
  /** the server's body is complete */
  private ended = false;
  private finishing = false;
  /** the codec finished (or the encoder was destroyed): nothing more is written */
  private finished = false;
  /** the client could not take the last write */
  private blocked = false;
  /** write() returned false: owner.onEncoderDrain() is owed */
  private paused = false;
  /** the compressed body kept for the sink (null: not kept, or over keepLimit) */
  private keep: Buffer[] | null;
  private keepBytes = 0;

  constructor(
    private readonly pool: CodecPool,
    readonly alg: Alg,
    /** flush after each read's input (server-sent events) */
    private readonly flushEach: boolean,
    private readonly sink: VariantSink | null = null,
    private readonly keepLimit = 0,
  ) {
    this.keep = sink !== null ? [] : null;
  }

  start(ex: ClientExchange, owner: EncoderOwner): void {
    this.ex = ex;
    this.owner = owner;
    const c = this.pool.take(this.alg);
    c.owner = this;
    this.codec = c;
  }

  write(buf: Buffer, start: number, end: number): boolean {
    if (this.codec === null || this.ended) return true;
    compressStats.bytesIn += end - start;
    const staged = this.staged;
    while (start < end) {
      let b = staged.length === 0 ? null : staged[staged.length - 1]!;
      if (b === null || this.fillAt === b.length) {
        b = stageFree.pop() ?? Buffer.allocUnsafeSlow(STAGE_BYTES);
        staged.push(b);
        this.fillAt = 0;
      }
      const n = buf.copy(b, this.fillAt, start, end);
      this.fillAt += n;
      this.stagedBytes += n;
      start += n;
    }
    if (this.flushEach) this.flushWanted = true;
    this.schedule();
    if (this.mustWait()) {
      this.paused = true;
      return false;
    }
    return true;
  }

  /** mustWait: the server is to pause (the client is backed up, or enough input waits for the codec). */
  private mustWait(): boolean {
    const staged = this.stagedBytes;
    // while the codec is idle, one read's input goes to it at the end of the read; more waits
    return this.blocked || staged >= 2 * STAGE_BYTES || (staged >= STAGE_BYTES && this.inflight.length !== 0);
  }

  /** stopKeeping: the compressed body is not wanted after all (the cache will not store the response). */
  stopKeeping(): void {
    this.keep = null;
  }

  end(): void {
    if (this.codec === null) return;
    this.ended = true;
    this.schedule();
  }

  onClientWritable(): void {
    this.blocked = false;
    if (this.finished) return this.done();
    if (this.inflight.length === 0) this.submit();
    else this.maybeResume();
  }

  destroy(): void {
    const c = this.codec;
    if (!this.finished) this.sink?.onVariant(this.alg, null);
    this.codec = null;
    this.ex = null;
    this.owner = null;
    this.keep = null;
    this.finished = true;
    // staged buffers are free again; those in flight are still read by the codec's thread
    for (const b of this.staged) if (stageFree.length < STAGE_KEEP) stageFree.push(b);
    this.staged.length = 0;
    this.stagedBytes = 0;
    if (c !== null) {
      c.owner = null;
      if (this.inflight.length === 0) this.pool.give(c);
      else c.destroy();
    }
    this.inflight.length = 0;
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    due.push(this);
    if (!dueScheduled) {
      dueScheduled = true;
      queueMicrotask(submitDue);
    }
  }

  /** submit hands the staged input (and a flush, or the finish) to an idle codec. */
  submit(): void {
    this.queued = false;
    const c = this.codec;
    if (c === null || this.inflight.length !== 0 || this.blocked) return; // onCodecWritten or onClientWritable calls again
    const staged = this.staged;
    for (let i = 0; i < staged.length; i++) {
      const b = staged[i]!;
      const n = i === staged.length - 1 ? this.fillAt : b.length;
      this.inflight.push(b);
      c.write(n === b.length ? b : b.subarray(0, n));
    }
    staged.length = 0;
    this.stagedBytes = 0;
    this.fillAt = 0;
    if (this.ended) {
      if (!this.finishing) {
        this.finishing = true;
        this.inflight.push(null);
        c.finish();
      }
    } else if (this.flushWanted) {
      this.flushWanted = false;
      this.inflight.push(null);
      c.flush();
    }
    this.maybeResume();
  }

  private maybeResume(): void {
    if (!this.paused || this.mustWait()) return;
    this.paused = false;
    this.owner?.onEncoderDrain();
  }

  // ---- CodecOwner ---------------------------------------------------------------------------

  onCodecOutput(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null) return;
    compressStats.bytesOut += chunk.length;
    this.owner!.bytesOut += chunk.length;
    const keep = this.keep;
    if (keep !== null) {
      this.keepBytes += chunk.length;
      if (this.keepBytes > this.keepLimit) this.keep = null;
      else keep.push(chunk);
    }
    if (!ex.write(chunk, 0, chunk.length)) this.blocked = true;
  }

  onCodecWritten(): void {
    const b = this.inflight.shift();
    if (b != null && stageFree.length < STAGE_KEEP) stageFree.push(b);
    if (this.inflight.length !== 0) return;
    if (this.finishing) return this.complete();
    this.submit();
  }

  onCodecError(err: Error): void {
    log.warn('compression failed: the response is cut off', { encoding: this.alg, error: err.message });
    const owner = this.owner;
    this.codec = null; // a failed codec is not reused (the stream destroyed itself)
    this.inflight.length = 0;
    this.destroy();
    owner?.onEncoderFailed();
  }

  // ---- the end --------------------------------------------------------------------------------

  /** complete: the codec finished and every byte went to the exchange. */
  private complete(): void {
    this.finished = true;
    const c = this.codec!;
    this.codec = null;
    this.pool.give(c);
    const keep = this.keep;
    if (keep !== null) {
      this.keep = null;
      // a buffer of its own: the codec's output pieces are views of its 64 KiB output buffers
      const body = Buffer.allocUnsafeSlow(this.keepBytes);
      let at = 0;
      for (const k of keep) at += k.copy(body, at);
      this.sink!.onVariant(this.alg, body);
    } else this.sink?.onVariant(this.alg, null);
    this.ex!.end();
    // a tail the client has not taken yet: done when onClientWritable says it left
    if (!this.blocked) this.done();
  }

  private done(): void {
    const owner = this.owner;
    this.owner = null;
    this.ex = null;
    owner?.onEncoderDone();
  }
}
