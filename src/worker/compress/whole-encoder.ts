/**
 * encodeWhole compresses a body that fulcrum holds whole (a cached entry's identity body, for the
 * variant stored with it) with one of the worker's reused codecs (codecs.ts): gzip, deflate and
 * zstd run on libuv's thread pool from a codec that is reset, not reallocated, between bodies, and
 * the body is read where it is (no copy to a worker thread). Two thread-pool trips per body: the
 * input, then the FINISH flush. nginx's gzip filter likewise allocates its deflate state from the
 * request pool rather than per call to zlib.
 *
 * The result is one buffer of its own (the codec's output pieces are views of its 64 KiB output
 * buffers, which a stored variant must not keep alive).
 */
import type { Codec, CodecOwner, CodecPool } from './codecs.js';
import type { Alg } from './negotiate.js';

class WholeJob implements CodecOwner {
  private readonly out: Buffer[] = [];
  private bytes = 0;
  /** the write (none for an empty body) and the finish: each is consumed once */
  pending = 2;

  constructor(
    private readonly pool: CodecPool,
    private readonly codec: Codec,
    private readonly resolve: (b: Buffer) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  onCodecOutput(chunk: Buffer): void {
    this.out.push(chunk);
    this.bytes += chunk.length;
  }

  onCodecWritten(): void {
    if (--this.pending !== 0) return;
    this.pool.give(this.codec);
    const body = Buffer.allocUnsafeSlow(this.bytes);
    let at = 0;
    for (const k of this.out) at += k.copy(body, at);
    this.out.length = 0;
    this.resolve(body);
  }

  onCodecError(err: Error): void {
    this.pending = -1;
    this.pool.give(this.codec); // failed: freed, not kept
    this.reject(err);
  }
}

/** encodeWhole compresses input with alg (not br: brotli codecs are not reused, see codecs.ts); input must not change until it resolves. */
export function encodeWhole(pool: CodecPool, input: Buffer, alg: Alg): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = pool.take(alg);
    const job = new WholeJob(pool, c, resolve, reject);
    c.owner = job;
    if (input.length !== 0) c.write(input);
    else job.pending = 1;
    c.finish();
  });
}
