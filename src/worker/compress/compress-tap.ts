/**
 * CompressTap compresses a forwarded response for a client that accepts an encoding (nginx's gzip
 * filter rules, with brotli and zstd too):
 *   - a body with a Content-Length between minBytes and maxBytes is compressed whole: the tap takes
 *     the client response over, buffers the body (allocated once, it is bounded), compresses it
 *     (gzip, deflate, zstd: on a reused codec, whole-encoder.ts; br: a piscina task) and sends it
 *     with its new Content-Length. nginx streams such a body compressed and chunked instead; here
 *     that cost 20-40% more CPU per byte than buffering (native-bench get-64k-gzip, BENCHMARKS.md
 *     "Compression"), because a response streaming holds a codec of its own for its lifetime, so
 *     64 responses in flight keep 64 deflate states, while bodies held whole queue for a few codecs
 *     that stay in the CPU's caches;
 *   - a body without a Content-Length (chunked or close-delimited), or one above maxBytes, is
 *     compressed as it streams (stream-encoder.ts), as nginx does: memory bounded per response,
 *     back-pressure both ways, sent chunked; flushTypes (text/event-stream) are flushed at each of
 *     the server's chunks.
 * Both carry Content-Encoding, Vary: Accept-Encoding and a weakened ETag (RFC 9110 8.8.3).
 * Everything else is relayed as it is (with Vary added when the type is compressible, so that
 * downstream caches keep encodings apart).
 *
 * Never compressed: statuses other than 2xx (and 204, 206), HEAD (the tap is not used), bodies
 * with Content-Encoding, Content-Range or Cache-Control: no-transform (RFC 9110 7.7), bodies of a
 * known length below minBytes, responses without a body (304 and the like).
 */
import type { ClientExchange } from '../engine/exchange.js';
import type { HeaderSink } from '../guard/edge-response.js';
import type { ResponsePolicy } from '../guard/response-policy.js';
import { requestFinished, requestStarted } from '../obs/activity.js';
import type { ResponseTap } from '../proxy/response-writer.js';
import { Framing, HeaderKind, type ResponseParser } from '../upstream/response-parser.js';
import { BufferWriter } from './buffer-writer.js';
import { compress, type Compressor } from './compressor.js';
import { compressibleType, flushedType, negotiate, type Alg, type CompressPolicy } from './negotiate.js';
import { StreamEncoder, type VariantSink } from './stream-encoder.js';

/**
 * Bodies of up to SLAB_BYTES compressed on a codec (not br, whose body is transferred to a thread)
 * are buffered in recycled slabs: a fresh 64 KiB allocation per response, freed and re-faulted by
 * the allocator, is what made fulcrum take page faults per request where nginx takes none.
 */
const SLAB_BYTES = 64 * 1024;
/** recycled slabs kept by the worker (2 MiB) */
const SLAB_KEEP = 32;
const slabFree: Buffer[] = [];

/** What compression uses of its config generation. */
export interface CompressSettings {
  readonly compressor: Compressor;
  readonly responses: ResponsePolicy;
}

/** compressTapFor returns the tap that compresses this request's response, or null (HEAD, no acceptable encoding). */
export function compressTapFor(ex: ClientExchange, cp: CompressPolicy, settings: CompressSettings): CompressTap | null {
  if (ex.method === 'HEAD') return null;
  const alg = negotiate(ex.field('accept-encoding'), cp.algorithms);
  return alg === null ? null : new CompressTap(cp, alg, settings, null);
}

/** writeEncodedHead writes a head for an encoded body: a strong ETag becomes weak (RFC 9110 8.8.3). */
export function writeEncodedHead(ex: ClientExchange, status: number, reason: string, headers: (string | Buffer)[], alg: Alg, policy: ResponsePolicy): void {
  ex.writeStatus(status, reason);
  const server = policy.serverHeader;
  if (server !== null) ex.writeHeader('Server', server);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const v = headers[i + 1]!;
    if (name.length === 4 && name.toLowerCase() === 'etag' && typeof v === 'string' && v.startsWith('"')) ex.writeHeader(name, 'W/' + v);
    else ex.writeHeader(name, v);
  }
  ex.writeHeader('Content-Encoding', alg);
  ex.writeHeader('Vary', 'Accept-Encoding');
}

/** How a response is compressed (eligibleHead). */
export const enum Eligible {
  /** not compressed, and its type is not compressible */
  No,
  /** not compressed, but its type is: Vary: Accept-Encoding still applies */
  VaryOnly,
  /** compressed whole: a Content-Length within minBytes..maxBytes */
  Whole,
  /** compressed as it streams: no Content-Length, or one above maxBytes */
  Stream,
  /** the same, flushed at each of the server's chunks (flushTypes) */
  StreamFlushed,
}

/** eligibleHead decides how a parsed head's body is compressed (the rules in the file comment). */
export function eligibleHead(p: ResponseParser, policy: CompressPolicy): Eligible {
  const status = p.statusCode;
  let type: string | null = null;
  let blocked = false;
  const h = p.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = (h[i] as string).toLowerCase();
    if (name === 'content-type') type = String(h[i + 1]);
    else if (name === 'content-encoding' || name === 'content-range') blocked = true;
    else if (name === 'cache-control' && /(^|[\s,])no-transform($|[\s,])/i.test(String(h[i + 1]))) blocked = true;
  }
  if (blocked || !compressibleType(policy, type)) return Eligible.No;
  if (
    status < 200 || // interim responses never get here; kept for the rule's sake
    status >= 300 || // errors and redirects are relayed as they are
    status === 204 || // no content
    status === 206 || // a range of the identity body (RFC 9110 14)
    p.framing === Framing.None // HEAD, 304
  )
    return Eligible.VaryOnly;
  if (p.framing === Framing.Length) {
    if (p.contentLength < policy.minBytes || p.contentLength === 0) return Eligible.VaryOnly; // not worth it
    if (p.contentLength <= policy.maxBytes) return Eligible.Whole;
  }
  return flushedType(policy, type) ? Eligible.StreamFlushed : Eligible.Stream;
}

/** streamEncoder returns the encoder of a streamed response (the cache passes a sink to keep the result). */
export function streamEncoder(settings: CompressSettings, alg: Alg, how: Eligible, sink: VariantSink | null, keepLimit: number): StreamEncoder {
  return new StreamEncoder(settings.compressor.codecs, alg, how === Eligible.StreamFlushed, sink, keepLimit);
}

export class CompressTap implements ResponseTap {
  private body: Buffer | null = null;
  /** the recycled slab the body is a view of, until the codec has read it (or null) */
  private slab: Buffer | null = null;
  private at = 0;
  private status = 0;
  private reason = '';
  private headers: (string | Buffer)[] = [];
  private ex: ClientExchange | null = null;
  private vary = false;
  private aborted = false;
  /** Stream or StreamFlushed: the body is compressed as it streams */
  private streamed = Eligible.No;
  /** the encoder was handed out: the head says Content-Encoding */
  private encoding = false;

  constructor(
    private readonly policy: CompressPolicy,
    private readonly alg: Alg,
    private readonly settings: CompressSettings,
    /** Cache-Status to send (the cache delegates its uncached responses here), or null */
    private readonly cacheStatus: string | null,
  ) {}

  onHead(p: ResponseParser, ex: ClientExchange): boolean {
    const e = eligibleHead(p, this.policy);
    if (e !== Eligible.Whole) {
      this.vary = e !== Eligible.No;
      if (e === Eligible.Stream || e === Eligible.StreamFlushed) this.streamed = e;
      return false;
    }
    this.ex = ex;
    this.status = p.statusCode;
    this.reason = p.reason;
    const h = p.headers;
    const drop = p.connectionTokens;
    for (let i = 0, k = 0; i < h.length; i += 2, k++) {
      if (p.kinds[k] !== HeaderKind.Other) continue;
      if (drop?.includes((h[i] as string).toLowerCase())) continue;
      if (this.settings.responses.strips(h[i] as string)) continue; // responses.stripHeaders
      this.headers.push(h[i]!, h[i + 1]!);
    }
    const n = p.contentLength;
    if (this.alg !== 'br' && n <= SLAB_BYTES) {
      this.slab = slabFree.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.body = this.slab.subarray(0, n);
    } else this.body = Buffer.allocUnsafeSlow(n); // a buffer of its own, so that it can be transferred to the pool thread (br); not zeroed, it is filled
    requestStarted();
    return true;
  }

  encoder(): StreamEncoder | null {
    if (this.streamed === Eligible.No) return null;
    this.encoding = true;
    return streamEncoder(this.settings, this.alg, this.streamed, null, 0);
  }

  writeHeaders(out: HeaderSink): void {
    if (this.cacheStatus !== null) out.writeHeader('Cache-Status', this.cacheStatus);
    if (this.encoding) out.writeHeader('Content-Encoding', this.alg);
    if (this.vary) out.writeHeader('Vary', 'Accept-Encoding');
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (this.body === null) return;
    this.at += buf.copy(this.body, this.at, start, end);
  }

  onEnd(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    compress(this.settings.compressor, body, this.alg, true).then(
      (out) => this.send(out),
      () => this.fail(),
    );
  }

  /** freeSlab recycles the body's slab: the codec read it, or it is not wanted any more. */
  private freeSlab(): void {
    const slab = this.slab;
    this.slab = null;
    if (slab !== null && slabFree.length < SLAB_KEEP) slabFree.push(slab);
  }

  private send(out: Buffer): void {
    this.freeSlab();
    const ex = this.ex!;
    if (this.aborted) return requestFinished();
    sending = this;
    sendingBody = out;
    ex.cork(corkedSend);
    sending = sendingBody = null;
    requestFinished();
  }

  /** sendCorked writes the compressed response (inside the exchange's cork). */
  sendCorked(out: Buffer): void {
    const ex = this.ex!;
    writeEncodedHead(ex, this.status, this.reason, this.headers, this.alg, this.settings.responses);
    if (this.cacheStatus !== null) ex.writeHeader('Cache-Status', this.cacheStatus);
    BufferWriter.send(ex, out);
  }

  private fail(): void {
    this.freeSlab();
    if (!this.aborted) this.ex!.abort();
    requestFinished();
  }

  onFailure(status: number): boolean {
    // the body broke off after we took the response over: nothing was sent, the client sees a closed connection
    // (ProxyRequest closes it)
    if (status === 0 && this.body !== null) {
      this.body = null;
      this.freeSlab();
      requestFinished();
    }
    return false;
  }

  onClientAborted(): void {
    this.aborted = true;
  }
}

// exchanges run cork callbacks synchronously: the tap being sent is held here, not in a closure
let sending: CompressTap | null = null;
let sendingBody: Buffer | null = null;
function corkedSend(): void {
  sending!.sendCorked(sendingBody!);
}
