/**
 * The compression of a worker process. gzip, deflate and zstd are compressed by node:zlib streams
 * on libuv's thread pool, reused from one response to the next (codecs.ts): streamed bodies by
 * stream-encoder.ts, bodies held whole (a known length up to maxBytes, cache variants) by
 * whole-encoder.ts, with no copy to a thread and no fresh zlib state per body: 23% less CPU per
 * 64 KiB gzip response than a piscina task each (BENCHMARKS.md, "Compression"). Brotli, whose
 * codecs cannot be reset to their parameters, compresses whole bodies
 * on a piscina pool (compress.task.ts) sized by compression.poolSize ("auto": the cores divided
 * by the worker processes, at least 1); with poolSize 0 it runs synchronously on the worker's
 * main thread (kept for comparison). Inputs that the caller owns whole are transferred to the
 * thread, and outputs always come back transferred, so a body is not copied on the way in or out.
 */
import os from 'node:os';
import type { Piscina } from 'piscina';
import type { CompressionConfig } from '../../config/schema.js';
import { CodecPool } from './codecs.js';
import { type CompressTask, compressSync } from './brotli-sync.js';
import type { Alg } from './negotiate.js';
import { WholeEncoder } from './whole-encoder.js';

/** Counters reported to the primary (tests count pool tasks with them). */
export const compressStats = { poolTasks: 0, mainThreadTasks: 0, bytesIn: 0, bytesOut: 0 };

/** piscina, imported on the first brotli task: a worker that never compresses with brotli does not hold it (~2 MiB) */
let piscina: Promise<{ Piscina: typeof Piscina }> | null = null;

/** CompressionPool is the piscina pool of one size, started on its first task. */
class CompressionPool {
  private pool: Piscina | null = null;
  /** replaced by a reload: the requests of the old generation still running compress on the main thread */
  closed = false;

  constructor(readonly threads: number) {}

  run(task: CompressTask, transfer: ArrayBuffer | null): Promise<Uint8Array> {
    const opts = transfer !== null ? { transferList: [transfer] } : undefined;
    if (this.pool !== null) return this.pool.run(task, opts);
    return (piscina ??= import('piscina')).then(({ Piscina }) => {
      // closed while piscina loaded (a reload replaced the pool): this task runs on the main thread
      if (this.closed) return compressSync(task);
      this.pool ??= new Piscina({
        filename: new URL('./compress.task.js', import.meta.url).href,
        minThreads: 1,
        maxThreads: this.threads,
        idleTimeout: 60_000,
      });
      return this.pool.run(task, opts);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const p = this.pool;
    this.pool = null;
    if (p !== null) void p.close();
  }
}

/** Compressor is a config generation's compression: its levels, its pool (poolSize 0: none) and its codecs. */
export interface Compressor {
  readonly gzipLevel: number;
  readonly brotliQuality: number;
  readonly zstdLevel: number;
  readonly pool: CompressionPool | null;
  /** the streams that compress streamed bodies (kept when the levels do not change) */
  readonly codecs: CodecPool;
  /** gzip, deflate and zstd of bodies held whole, on reused codecs of its own (kept when the levels and lanes do not change) */
  readonly whole: WholeEncoder;
}

/**
 * buildCompressor returns the compression of a config (workers: the number of worker processes);
 * the pool of `prev` is kept when its size does not change (the caller closes a replaced one,
 * closePool, once the new generation runs).
 */
export function buildCompressor(c: CompressionConfig, workers: number, prev: Compressor | null): Compressor {
  const threads = c.poolSize === 'auto' ? Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, workers))) : c.poolSize;
  const pool = threads === 0 ? null : prev?.pool?.threads === threads ? prev.pool : new CompressionPool(threads);
  const levels = { gzipLevel: c.gzipLevel, brotliQuality: c.brotliQuality, zstdLevel: c.zstdLevel };
  const pl = prev?.codecs.levels;
  const same = pl !== undefined && pl.gzipLevel === levels.gzipLevel && pl.brotliQuality === levels.brotliQuality && pl.zstdLevel === levels.zstdLevel;
  const lanes = Math.max(1, threads);
  const whole = same && prev!.whole.lanes === lanes ? prev!.whole : new WholeEncoder(levels, lanes);
  return { ...levels, pool, codecs: same ? prev!.codecs : new CodecPool(levels), whole };
}

/** closePool closes the pool and the codecs of `old` unless `next` keeps them. */
export function closePool(old: Compressor, next: Compressor | null): void {
  if (old.pool !== null && old.pool !== next?.pool) old.pool.close();
  if (old.codecs !== next?.codecs) old.codecs.close();
  if (old.whole !== next?.whole) old.whole.close();
}

/** ownsBuffer: may input's memory be transferred (it spans its whole ArrayBuffer)? */
export function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

/**
 * compress encodes a body held whole with alg: gzip, deflate and zstd with the generation's reused
 * codecs (whole-encoder.ts: no thread hand-over, no fresh zlib state per body), brotli as one task
 * on the pool. transfer: the caller gives input away (it must span its whole ArrayBuffer and must
 * not be used afterwards); otherwise it is copied to the thread. input must not change until the
 * promise settles (a codec reads it on libuv's pool).
 */
export function compress(c: Compressor, input: Buffer, alg: Alg, transfer: boolean): Promise<Buffer> {
  compressStats.bytesIn += input.length;
  if (alg !== 'br') {
    return c.whole.encode(input, alg).then((out) => {
      compressStats.bytesOut += out.length;
      return out;
    });
  }
  const task: CompressTask = { input, brotliQuality: c.brotliQuality };
  if (c.pool === null || c.pool.closed) {
    compressStats.mainThreadTasks++;
    const out = compressSync(task);
    compressStats.bytesOut += out.length;
    return Promise.resolve(out);
  }
  compressStats.poolTasks++;
  const canMove = transfer && ownsBuffer(input);
  return c.pool.run(task, canMove ? (input.buffer as ArrayBuffer) : null).then((out: Uint8Array) => {
    compressStats.bytesOut += out.byteLength;
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  });
}
