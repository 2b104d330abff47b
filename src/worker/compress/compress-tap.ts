/**
 * CompressTap compresses a forwarded response for a client that accepts an encoding: when the
 * response is eligible it takes the client response over, buffers the body (it has a
 * Content-Length between minBytes and maxBytes, so the buffer is bounded and allocated once),
 * compresses it on the pool and sends it with Content-Encoding, Vary: Accept-Encoding, the new
 * Content-Length and a weakened ETag. Everything else is relayed as it is (with Vary added when
 * the type is compressible, so that downstream caches keep encodings apart).
 *
 * Never compressed: statuses other than 2xx (and 204, 206), HEAD (the tap is not used), bodies
 * with Content-Encoding, Content-Range or Cache-Control: no-transform, bodies without a
 * Content-Length (chunked or close-delimited: streamed through uncompressed).
 */
import type { HttpRequest, HttpResponse } from '../../uws.js';
import type { ResponseTap } from '../proxy.js';
import { statusLine } from '../proxy.js';
import { Framing, HeaderKind, type ResponseParser } from '../upstream/response-parser.js';
import { BufferWriter, type WriterHost } from '../buffer-writer.js';
import { compress } from './compressor.js';
import { compressibleType, negotiate, type Alg, type CompressPolicy } from './negotiate.js';
import { responsePolicy } from '../guard/response-policy.js';

/** compressTapFor returns the tap that compresses this request's response, or null (HEAD, no acceptable encoding). */
export function compressTapFor(req: HttpRequest, method: string, cp: CompressPolicy, host: WriterHost): CompressTap | null {
  if (method === 'HEAD') return null;
  const alg = negotiate(req.getHeader('accept-encoding'), cp.algorithms);
  return alg === null ? null : new CompressTap(cp, alg, host, null);
}

/** writeEncodedHead writes a head for an encoded body: a strong ETag becomes weak (RFC 9110 8.8.3). */
export function writeEncodedHead(res: HttpResponse, line: string, headers: (string | Buffer)[], alg: Alg): void {
  res.writeStatus(line);
  const server = responsePolicy().serverHeader;
  if (server !== null) res.writeHeader('Server', server);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const v = headers[i + 1]!;
    if (name.length === 4 && name.toLowerCase() === 'etag' && typeof v === 'string' && v.startsWith('"')) res.writeHeader(name, 'W/' + v);
    else res.writeHeader(name, v);
  }
  res.writeHeader('Content-Encoding', alg).writeHeader('Vary', 'Accept-Encoding');
}

/** eligibleHead checks a parsed head: `type` when the content type may be compressed, `body` when this body will be. */
function eligibleHead(p: ResponseParser, policy: CompressPolicy): { type: boolean; body: boolean } {
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
  const typeOk = compressibleType(policy, type);
  const body =
    typeOk &&
    !blocked &&
    status >= 200 &&
    status < 300 &&
    status !== 204 &&
    status !== 206 &&
    p.framing === Framing.Length &&
    p.contentLength >= policy.minBytes &&
    p.contentLength <= policy.maxBytes;
  return { type: typeOk && !blocked, body };
}

export class CompressTap implements ResponseTap {
  private body: Buffer | null = null;
  private at = 0;
  private line = '';
  private headers: (string | Buffer)[] = [];
  private res: HttpResponse | null = null;
  private vary = false;
  private aborted = false;
  private writer: BufferWriter | null = null;

  constructor(
    private readonly policy: CompressPolicy,
    private readonly alg: Alg,
    private readonly host: WriterHost,
    /** Cache-Status to send (the cache delegates its uncached responses here), or null */
    private readonly cacheStatus: string | null,
  ) {}

  onHead(p: ResponseParser, res: HttpResponse | null): boolean {
    const e = eligibleHead(p, this.policy);
    if (!e.body || res === null) {
      this.vary = e.type;
      return false;
    }
    this.res = res;
    this.line = statusLine(p.statusCode, p.reason);
    const h = p.headers;
    const drop = p.connectionTokens;
    for (let i = 0, k = 0; i < h.length; i += 2, k++) {
      if (p.kinds[k] !== HeaderKind.Other) continue;
      if (drop?.includes((h[i] as string).toLowerCase())) continue;
      if (responsePolicy().strips(h[i] as string)) continue; // responses.stripHeaders
      this.headers.push(h[i]!, h[i + 1]!);
    }
    // a buffer of its own, so that it can be transferred to the pool thread
    this.body = Buffer.from(new ArrayBuffer(p.contentLength));
    this.host.requestStarted();
    return true;
  }

  writeHeaders(res: HttpResponse): void {
    if (this.cacheStatus !== null) res.writeHeader('Cache-Status', this.cacheStatus);
    if (this.vary) res.writeHeader('Vary', 'Accept-Encoding');
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (this.body === null) return;
    this.at += buf.copy(this.body, this.at, start, end);
  }

  onEnd(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    compress(body, this.alg, true).then(
      (out) => this.send(out),
      () => this.fail(),
    );
  }

  private send(out: Buffer): void {
    const res = this.res!;
    if (this.aborted) return this.host.requestFinished();
    res.cork(() => {
      writeEncodedHead(res, this.line, this.headers, this.alg);
      if (this.cacheStatus !== null) res.writeHeader('Cache-Status', this.cacheStatus);
      this.writer = BufferWriter.endBuffered(res, out, this.host);
    });
    this.host.requestFinished();
  }

  private fail(): void {
    if (!this.aborted) this.res!.close();
    this.host.requestFinished();
  }

  onFailure(status: number): boolean {
    // the body broke off after we took the response over: nothing was sent, the client sees a closed connection
    // (ProxyRequest closes it)
    if (status === 0 && this.body !== null) {
      this.body = null;
      this.host.requestFinished();
    }
    return false;
  }

  onClientAborted(): void {
    this.aborted = true;
    this.writer?.abort();
  }
}
