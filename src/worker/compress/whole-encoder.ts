/**
 * WholeEncoder compresses bodies that fulcrum holds whole (a response of a known length up to
 * compression.maxBytes, a cached entry's identity body) with gzip, deflate or zstd, on the
 * worker's reused codecs (codecs.ts): the codec reads the body where it is, on libuv's thread
 * pool, and is reset, not reallocated, for the next body. One thread-pool trip per body: these
 * codecs finish the compressed stream with each write (zlib's Z_FINISH, zstd's ZSTD_e_end as the
 * stream's flush mode); a write and then a FINISH flush took 60-70 µs more CPU per 64 KiB body
 * (about 20%) on this machine, the cost of the second trip.
 *
 * Bodies wait in one queue and at most `lanes` are compressed at a time (the threads compression
 * may use: compression.poolSize, "auto" = cores / worker processes), each lane on the codec it
 * used last. A codec per response in flight instead (64 connections: 64 deflate states of about
 * 0.45 MiB) cost 10-20% more CPU per body than one lane, whose state stays in the CPU's caches
 * (BENCHMARKS.md, "Compression"); nginx likewise compresses one response at a time per worker.
 *
 * The result is one buffer of its own (the codec's output pieces are views of its 64 KiB output
 * buffers, which a stored variant must not keep alive).
 */
import { CodecPool, type Codec, type CodecLevels, type CodecOwner } from './codecs.js';
import type { Alg } from './negotiate.js';

interface Job {
  input: Buffer;
  alg: Alg;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** Lane compresses one body at a time; its callbacks are made once, not per body. */
class Lane implements CodecOwner {
  private job: Job | null = null;
  private codec: Codec | null = null;
  private readonly out: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly enc: WholeEncoder) {}

  run(job: Job, pool: CodecPool): void {
    this.job = job;
    const c = pool.take(job.alg);
    c.owner = this;
    this.codec = c;
    c.write(job.input);
  }

  onCodecOutput(chunk: Buffer): void {
    this.out.push(chunk);
    this.bytes += chunk.length;
  }

  onCodecWritten(): void {
    const body = Buffer.allocUnsafeSlow(this.bytes);
    let at = 0;
    for (const k of this.out) at += k.copy(body, at);
    const job = this.end();
    job.resolve(body);
  }

  onCodecError(err: Error): void {
    const job = this.end(); // the failed codec is freed, not kept (CodecPool.give)
    job.reject(err);
  }

  /** end gives the codec back and the lane to the encoder; returns the job it ran. */
  private end(): Job {
    const job = this.job!;
    this.job = null;
    this.out.length = 0;
    this.bytes = 0;
    const c = this.codec!;
    this.codec = null;
    this.enc.laneFree(this, c);
    return job;
  }
}

export class WholeEncoder {
  private readonly queue: Job[] = [];
  private readonly free: Lane[] = [];
  /** finishing codecs, kept across bodies (and trimmed when idle) as the streamed ones are */
  private readonly pool: CodecPool;

  constructor(
    levels: CodecLevels,
    readonly lanes: number,
  ) {
    this.pool = new CodecPool(levels, true);
    for (let i = 0; i < Math.max(1, lanes); i++) this.free.push(new Lane(this));
  }

  /** close frees the idle codecs (a replaced generation); bodies queued or running still finish. */
  close(): void {
    this.pool.close();
  }

  /** encode compresses input with alg (not br: brotli codecs are not reused, see codecs.ts); input must not change until it settles. */
  encode(input: Buffer, alg: Alg): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const job: Job = { input, alg, resolve, reject };
      const lane = this.free.pop();
      if (lane !== undefined) lane.run(job, this.pool);
      else this.queue.push(job);
    });
  }

  /** laneFree: a lane finished its body: the codec goes back to the pool, the lane to the next body. */
  laneFree(lane: Lane, c: Codec): void {
    this.pool.give(c);
    const next = this.queue.shift();
    if (next !== undefined) lane.run(next, this.pool);
    else this.free.push(lane);
  }
}
