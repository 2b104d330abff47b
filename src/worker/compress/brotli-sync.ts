/**
 * Brotli of one whole body, synchronously: the body of the piscina task (compress.task.ts) and of
 * the main-thread mode (compression.poolSize 0). Its own file so that the worker's main thread
 * imports it without piscina: piscina (~2 MiB of a worker's memory) is loaded on the first brotli
 * task (compressor.ts), not at start.
 */
import zlib from 'node:zlib';

export interface CompressTask {
  input: Uint8Array;
  brotliQuality: number;
}

export function compressSync(t: CompressTask): Buffer {
  return zlib.brotliCompressSync(t.input, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: t.brotliQuality,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: t.input.byteLength,
    },
  });
}
