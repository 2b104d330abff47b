/**
 * The compression pool of a worker process: piscina threads running compress.task.ts, sized by
 * compression.poolSize ("auto": the cores divided by the worker processes, at least 1). With
 * poolSize 0 the work runs synchronously on the worker's main thread (kept for comparison).
 * Inputs that the caller owns whole are transferred to the thread, and outputs always come back
 * transferred, so a body is not copied on the way in or out.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import type { CompressionConfig } from '../../config/schema.js';
import compressTask, { compressSync, type CompressTask } from './compress.task.js';
import type { Alg } from './negotiate.js';

let pool: Piscina | null = null;
let poolThreads = -1;
let levels = { gzipLevel: 6, brotliQuality: 5 };

/** Counters reported to the primary (tests count pool tasks with them). */
export const compressStats = { poolTasks: 0, mainThreadTasks: 0, bytesIn: 0, bytesOut: 0 };

/** configureCompression sizes the pool for this config (workers: the number of worker processes). */
export function configureCompression(c: CompressionConfig, workers: number): void {
  levels = { gzipLevel: c.gzipLevel, brotliQuality: c.brotliQuality };
  const threads = c.poolSize === 'auto' ? Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, workers))) : c.poolSize;
  if (threads === poolThreads) return;
  const old = pool;
  pool = null;
  poolThreads = threads;
  if (old !== null) void old.close();
}

function getPool(): Piscina {
  return (pool ??= new Piscina({
    filename: new URL('./compress.task.js', import.meta.url).href,
    minThreads: 1,
    maxThreads: poolThreads,
    idleTimeout: 60_000,
  }));
}

/** ownsBuffer: may input's memory be transferred (it spans its whole ArrayBuffer)? */
export function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

/**
 * compress encodes input with alg. transfer: the caller gives input away (it must span its whole
 * ArrayBuffer and must not be used afterwards); otherwise it is copied to the thread.
 */
export function compress(input: Buffer, alg: Alg, transfer: boolean): Promise<Buffer> {
  compressStats.bytesIn += input.length;
  const task: CompressTask = { alg, input, ...levels };
  if (poolThreads === 0) {
    compressStats.mainThreadTasks++;
    const out = compressSync(task);
    compressStats.bytesOut += out.length;
    return Promise.resolve(out);
  }
  compressStats.poolTasks++;
  const canMove = transfer && ownsBuffer(input);
  return getPool()
    .run(task, canMove ? { transferList: [input.buffer as ArrayBuffer] } : undefined)
    .then((out: Uint8Array) => {
      compressStats.bytesOut += out.byteLength;
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    });
}

void compressTask;
