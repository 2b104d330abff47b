/**
 * The piscina task that compresses one body with brotli off the worker's event loop (gzip,
 * deflate and zstd use the worker's reused node:zlib codecs instead: compressor.ts). It imports
 * nothing from the worker but brotli-sync.ts (piscina loads it by file name in its own thread). The input arrives
 * transferred when the caller could give it away; the output is always transferred back (moved,
 * not copied).
 */
import { move } from 'piscina';
import { type CompressTask, compressSync } from './brotli-sync.js';

export default function compress(t: CompressTask): Uint8Array {
  const out = compressSync(t);
  // a small result may sit in Buffer's shared pool slab: give back a buffer of its own
  const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : new Uint8Array(out);
  return move(own) as Uint8Array;
}
