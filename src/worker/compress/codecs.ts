/**
 * Codecs: node:zlib's asynchronous compression streams (gzip, deflate, br, and zstd where the
 * runtime has it), which compress on libuv's thread pool, off the event loop. A worker keeps the
 * codecs of one set of levels in a CodecPool and reuses them from one response to the next: a
 * response ends its codec with a FINISH flush instead of end(), and the pool resets it
 * (deflateReset, ZSTD_CCtx_reset) for the next one. A fresh deflate state per 64 KiB response
 * (allocated, zeroed, page-faulted, unmapped) cost as much CPU as compressing the response
 * (BENCHMARKS.md, "Compression"); nginx avoids the same by allocating it from its request pool.
 *
 * Brotli codecs are not reused: node:zlib's reset of a brotli stream makes a new encoder with the
 * library's defaults (quality 11, a 4 MiB window) instead of the stream's parameters, which made a
 * 5 MiB response take 36 s instead of 0.6 s. Brotli allocates its big tables per stream anyway.
 *
 * Idle codecs are trimmed to what the last interval needed (the low-water mark of each list), so a
 * burst does not keep its codecs: gzip holds about 0.45 MiB, zstd 2.2 MiB.
 */
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Alg } from './negotiate.js';

/** The zstd part of node:zlib (Node.js 22.15 / 23.8 and later; @types/node 20 does not declare it). */
interface ZstdZlib {
  createZstdCompress(o: { chunkSize: number; params: Record<number, number>; flush?: number }): Transform;
}

/** ZSTD_AVAILABLE: this runtime compresses zstd (detected, so that Node.js 20 runs without it). */
export const ZSTD_AVAILABLE = typeof (zlib as unknown as Partial<ZstdZlib>).createZstdCompress === 'function';

const C = zlib.constants as typeof zlib.constants & Partial<Record<string, number>>;
// zstd's flush operations and level parameter (zstd.h: ZSTD_e_flush, ZSTD_e_end, ZSTD_c_compressionLevel)
const ZSTD_E_FLUSH = C.ZSTD_e_flush ?? 1;
const ZSTD_E_END = C.ZSTD_e_end ?? 2;
const ZSTD_C_COMPRESSION_LEVEL = C.ZSTD_c_compressionLevel ?? 100;

/**
 * the output buffer of a codec: one 64 KiB compressed piece per thread-pool trip (node:zlib's
 * 16 KiB default takes three trips for a 64 KiB piece that compresses poorly)
 */
const CHUNK_BYTES = 64 * 1024;
/**
 * brotli's window for streamed bodies: 512 KiB (ngx_brotli's default brotli_window), not the
 * library's 4 MiB, so that a long stream holds less memory
 */
const BROTLI_STREAM_LGWIN = 19;
/** most idle codecs kept per encoding */
const IDLE_MAX = 32;
/** how often idle codecs that were not needed are dropped */
const TRIM_MS = 10_000;

/** The compression levels of a config generation (compression.gzipLevel, brotliQuality, zstdLevel). */
export interface CodecLevels {
  readonly gzipLevel: number;
  readonly brotliQuality: number;
  readonly zstdLevel: number;
}

/** What a codec reports to while a response uses it (StreamEncoder). */
export interface CodecOwner {
  /** compressed bytes; they are never overwritten by the codec afterwards */
  onCodecOutput(chunk: Buffer): void;
  /** a write(), flush() or finish() was consumed; one call per call, in order */
  onCodecWritten(): void;
  onCodecError(err: Error): void;
}

/** A node:zlib compression stream with flush() and reset() (every one of them has both). */
interface ZStream extends Transform {
  flush(kind: number, callback: (err?: Error | null) => void): void;
  reset(): void;
}

/** finishing: every write() ends the compressed stream (one thread-pool trip per whole body) */
function createStream(alg: Alg, levels: CodecLevels, finishing: boolean): ZStream {
  switch (alg) {
    case 'gzip':
      return zlib.createGzip({ level: levels.gzipLevel, chunkSize: CHUNK_BYTES, flush: finishing ? C.Z_FINISH : C.Z_NO_FLUSH }) as unknown as ZStream;
    case 'deflate':
      return zlib.createDeflate({ level: levels.gzipLevel, chunkSize: CHUNK_BYTES, flush: finishing ? C.Z_FINISH : C.Z_NO_FLUSH }) as unknown as ZStream;
    case 'br':
      return zlib.createBrotliCompress({
        chunkSize: CHUNK_BYTES,
        params: { [C.BROTLI_PARAM_QUALITY]: levels.brotliQuality, [C.BROTLI_PARAM_LGWIN]: BROTLI_STREAM_LGWIN },
      }) as unknown as ZStream;
    default:
      return (zlib as unknown as ZstdZlib).createZstdCompress({
        chunkSize: CHUNK_BYTES,
        params: { [ZSTD_C_COMPRESSION_LEVEL]: levels.zstdLevel },
        ...(finishing ? { flush: ZSTD_E_END } : {}),
      }) as unknown as ZStream;
  }
}

/** Codec is one reusable compression stream; its callbacks are made once, not per response. */
export class Codec {
  /** the response using it (null while idle) */
  owner: CodecOwner | null = null;
  private readonly stream: ZStream;
  private readonly flushKind: number;
  private readonly finishKind: number;
  private readonly written: (err?: Error | null) => void;
  private failed = false;

  constructor(
    readonly alg: Alg,
    levels: CodecLevels,
    finishing: boolean,
  ) {
    const s = createStream(alg, levels, finishing);
    this.stream = s;
    const zl = alg === 'gzip' || alg === 'deflate';
    this.flushKind = zl ? C.Z_SYNC_FLUSH : alg === 'br' ? C.BROTLI_OPERATION_FLUSH : ZSTD_E_FLUSH;
    this.finishKind = zl ? C.Z_FINISH : alg === 'br' ? C.BROTLI_OPERATION_FINISH : ZSTD_E_END;
    // a stream that failed calls back every pending write with an error: those are not consumed
    this.written = (err) => {
      if (err == null) this.owner?.onCodecWritten();
    };
    s.on('data', (chunk: Buffer) => this.owner?.onCodecOutput(chunk));
    s.on('error', (err: Error) => {
      this.failed = true;
      this.owner?.onCodecError(err);
    });
  }

  /** write hands input to the codec; it is read on a pool thread until onCodecWritten (a finishing codec ends the stream with it). */
  write(input: Buffer): void {
    this.stream.write(input, this.written);
  }

  /** flush makes everything written so far decodable by the client (a sync flush). */
  flush(): void {
    this.stream.flush(this.flushKind, this.written);
  }

  /** finish ends the compressed stream (trailer, checksum); the codec is reusable after reset. */
  finish(): void {
    this.stream.flush(this.finishKind, this.written);
  }

  /** reusable: nothing failed (a codec given back is idle: every write was consumed), and not brotli (see above) */
  get reusable(): boolean {
    return this.alg !== 'br' && !this.failed && !this.stream.destroyed;
  }

  reset(): void {
    this.stream.reset();
  }

  /** destroy frees the codec (a write still running on the pool thread finishes first). */
  destroy(): void {
    this.owner = null;
    this.stream.destroy();
  }
}

/** CodecPool keeps the idle codecs of one set of levels, per encoding. */
export class CodecPool {
  private readonly idle = new Map<Alg, Codec[]>();
  /** the fewest idle codecs each list had since the last trim: that many were not needed */
  private readonly low = new Map<Alg, number>();
  private timer: NodeJS.Timeout | null = null;
  /** closed: codecs given back are freed, not kept */
  private closed = false;

  constructor(
    readonly levels: CodecLevels,
    /** its codecs end the compressed stream with each write (whole-encoder.ts), not with finish() */
    private readonly finishing = false,
  ) {}

  /** take returns an idle codec for alg, or a new one. */
  take(alg: Alg): Codec {
    const list = this.idle.get(alg);
    const c = list?.pop();
    if (c === undefined) return new Codec(alg, this.levels, this.finishing);
    if (list!.length < this.low.get(alg)!) this.low.set(alg, list!.length);
    return c;
  }

  /** give takes back a codec whose every write was consumed: reset for the next response, or freed. */
  give(c: Codec): void {
    c.owner = null;
    let list = this.idle.get(c.alg);
    if (this.closed || !c.reusable || (list !== undefined && list.length >= IDLE_MAX)) return c.destroy();
    c.reset();
    if (list === undefined) {
      this.idle.set(c.alg, (list = []));
      this.low.set(c.alg, 0);
    }
    list.push(c);
    if (this.timer === null) {
      this.timer = setInterval(() => this.trim(), TRIM_MS);
      this.timer.unref();
    }
  }

  /** trim frees the codecs that stayed idle through the last interval. */
  private trim(): void {
    let left = 0;
    for (const [alg, list] of this.idle) {
      const unused = Math.min(this.low.get(alg)!, list.length);
      for (let i = 0; i < unused; i++) list.shift()!.destroy();
      this.low.set(alg, list.length);
      left += list.length;
    }
    if (left === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** close frees every idle codec (a replaced generation); codecs in use are freed when given back. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const list of this.idle.values()) for (const c of list) c.destroy();
    this.idle.clear();
    this.closed = true;
  }
}
