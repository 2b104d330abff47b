/**
 * The piscina task that compresses one body off the worker's event loop. It imports nothing from
 * the worker (piscina loads it by file name in its own thread). The input arrives transferred
 * when the caller could give it away; the output is always transferred back (moved, not copied).
 */
import zlib from 'node:zlib';
import { move } from 'piscina';

export interface CompressTask {
  alg: 'br' | 'zstd' | 'gzip' | 'deflate';
  input: Uint8Array;
  gzipLevel: number;
  brotliQuality: number;
  zstdLevel: number;
}

/** node:zlib's zstd (Node.js 22.15 / 23.8 and later; only asked for where it exists, see codecs.ts) */
interface ZstdSync {
  zstdCompressSync(input: Uint8Array, o: { params: Record<number, number> }): Buffer;
}
/** ZSTD_c_compressionLevel (zstd.h) */
const ZSTD_LEVEL = (zlib.constants as Partial<Record<string, number>>).ZSTD_c_compressionLevel ?? 100;

/** compressSync is shared with the main-thread mode (compression.poolSize 0). */
export function compressSync(t: CompressTask): Buffer {
  switch (t.alg) {
    case 'br':
      return zlib.brotliCompressSync(t.input, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: t.brotliQuality,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: t.input.byteLength,
        },
      });
    case 'zstd':
      return (zlib as unknown as ZstdSync).zstdCompressSync(t.input, { params: { [ZSTD_LEVEL]: t.zstdLevel } });
    case 'gzip':
      return zlib.gzipSync(t.input, { level: t.gzipLevel });
    default:
      return zlib.deflateSync(t.input, { level: t.gzipLevel });
  }
}

export default function compress(t: CompressTask): Uint8Array {
  const out = compressSync(t);
  // a small result may sit in Buffer's shared pool slab: give back a buffer of its own
  const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : new Uint8Array(out);
  return move(own) as Uint8Array;
}
