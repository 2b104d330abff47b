/**
 * ResponseWriter relays a server's response to the client exchange (RFC 9110 7.6, RFC 9112 6):
 * the status, the fields (hop-by-hop ones, the framing, Date and the response policy's stripped
 * ones removed; fulcrum's Server, HSTS and sticky cookie added), and the body with back-pressure.
 *
 * Body pieces are written straight from the upstream read buffer, never copied here. When the
 * client cannot take a piece (write() returns false) the upstream socket is paused until
 * onClientWritable; if the engine still references the bytes (keepsReferences), the shared read
 * buffer they sit in is retired and leased until then (upstream/read-buffer.ts), so that no other
 * socket's read overwrites them. Engines that copy (uWS) need no lease.
 *
 * ProxyRequest extends it with the attempts, retries and endings; a ResponseTap (the cache,
 * compression) watches the response and may answer the client itself, or give a BodyEncoder that
 * re-encodes the body as it streams (compression): then the head goes out with the tap's
 * Content-Encoding, a weakened ETag (RFC 9110 8.8.3) and no length (chunked, or close on
 * HTTP/1.0), and the body pieces go to the encoder, which writes to the client and says when to
 * pause the server.
 */
import type { ClientExchange } from '../engine/exchange.js';
import { ResponseBody } from '../engine/exchange.js';
import type { HeaderSink, HeaderWriter } from '../guard/edge-response.js';
import type { ResponsePolicy } from '../guard/response-policy.js';
import type { EdgeLimits } from '../guard/limits.js';
import type { AccessLog } from '../obs/access-log.js';
import { release, retain } from '../upstream/read-buffer.js';
import { Framing, HeaderKind, type ResponseParser } from '../upstream/response-parser.js';

/** What a proxied request reads of its config generation (the worker's runtime has it all). */
export interface ProxySettings {
  readonly limits: EdgeLimits;
  readonly responses: ResponsePolicy;
  readonly accessLog: AccessLog | null;
}

/**
 * BodyEncoder re-encodes a relayed body as it streams (compress/stream-encoder.ts). It copies what
 * it keeps of a piece, writes its output to the client itself, and calls its owner back.
 */
export interface BodyEncoder {
  /** start: the head was written (with an unknown length); pieces follow */
  start(ex: ClientExchange, owner: EncoderOwner): void;
  /** write takes a piece (valid only during the call); false: pause the server until owner.onEncoderDrain() */
  write(buf: Buffer, start: number, end: number): boolean;
  /** end: the server's body is complete; owner.onEncoderDone() follows once the client took the last byte */
  end(): void;
  /** the exchange's onClientWritable */
  onClientWritable(): void;
  /** destroy drops the encoding (the client left, the response broke off): no owner call follows */
  destroy(): void;
}

/** What a BodyEncoder calls back (the ResponseWriter). */
export interface EncoderOwner {
  /** bytes sent to the client (the access log's) */
  bytesOut: number;
  /** the encoder can take pieces again */
  onEncoderDrain(): void;
  /** the encoded body is complete and the client took it */
  onEncoderDone(): void;
  /** the encoder failed: the client's response is cut off */
  onEncoderFailed(): void;
}

/**
 * ResponseTap observes a proxied response and may answer the client itself: the response cache's
 * hook (store a copy while streaming, answer from a refreshed or stale entry) and compression's.
 */
export interface ResponseTap extends HeaderWriter {
  /** the head arrived; true takes the client response over (nothing of this response is relayed) */
  onHead(p: ResponseParser, client: ClientExchange): boolean;
  /**
   * encoder: asked after onHead returned false, for a response with a body, before its head is
   * written: the encoder of the body (then writeHeaders adds its Content-Encoding), or null
   */
  encoder(): BodyEncoder | null;
  /** adds fields to the relayed head or to an error response */
  writeHeaders(out: HeaderSink): void;
  /** a piece of the body (valid only during the call) */
  onBody(buf: Buffer, start: number, end: number): void;
  onEnd(): void;
  /** the upstream request failed (status 0: after the response started); true when the tap answered the client */
  onFailure(status: number, client: ClientExchange | null): boolean;
  /** the client went away */
  onClientAborted(): void;
}

const WEAK = Buffer.from('W/');

/** weakEtag turns a strong entity tag into a weak one; a weak one stays as it is. */
function weakEtag(v: string | Buffer): string | Buffer {
  if (typeof v === 'string') return v.startsWith('"') ? 'W/' + v : v;
  return v[0] === 0x22 ? Buffer.concat([WEAK, v]) : v;
}

export abstract class ResponseWriter implements EncoderOwner {
  /** the client; null once it left or the exchange ended abruptly */
  client: ClientExchange | null;
  // what metrics and the access log read when the request finishes (observe.ts)
  /** status sent to the client (0: none, e.g. the client left first) */
  status = 0;
  /** when the upstream response head arrived (0: never) */
  headAt = 0;
  bytesOut = 0;
  /** set before start() by the response cache or compression */
  tap: ResponseTap | null = null;
  /** the response head went to the client (or a tap took the response over) */
  protected responded = false;
  /** nothing more goes to the client: its response is complete */
  protected clientDone = false;
  /** the server's response is over (complete, failed or abandoned) */
  protected upstreamDone = false;
  protected parser: ResponseParser | null = null;
  /** the sticky-session Set-Cookie to add ("" when none) */
  setCookie = '';
  /** Strict-Transport-Security for responses over HTTPS (tls.hsts) */
  protected hsts: string | null = null;
  /** the client could not take the last write: onClientWritable is awaited */
  private backedUp = false;
  /** read buffers leased while the client holds references into them */
  private leases: Buffer[] | null = null;
  /** re-encodes the body as it streams (compression), or null */
  private encoder: BodyEncoder | null = null;

  constructor(
    client: ClientExchange,
    readonly settings: ProxySettings,
  ) {
    this.client = client;
  }

  /** pause / resume the upstream socket (back-pressure from the client) */
  protected abstract pauseUpstream(): void;
  protected abstract resumeUpstream(): void;
  /** the request may be over: account for it once both sides are done */
  protected abstract maybeFinish(): void;
  /** the client left (or is to be treated as gone): cancel the server's side */
  abstract onClientAborted(): void;

  /** writeHead relays the status and fields of the response in `parser` (inside the read's cork). */
  protected writeHead(p: ResponseParser): void {
    const ex = this.client!;
    const hasBody = p.framing !== Framing.None && !(p.framing === Framing.Length && p.contentLength === 0);
    const enc = this.tap !== null && hasBody ? this.tap.encoder() : null;
    ex.writeStatus(p.statusCode, p.reason);
    const policy = this.settings.responses;
    if (policy.serverHeader !== null) ex.writeHeader('Server', policy.serverHeader);
    if (this.hsts !== null) ex.writeHeader('Strict-Transport-Security', this.hsts);
    const h = p.headers;
    const kinds = p.kinds;
    const drop = p.connectionTokens;
    let date = false;
    for (let i = 0, k = 0; i < h.length; i += 2, k++) {
      if (kinds[k] !== HeaderKind.Other) {
        // the server's Date goes on unchanged (RFC 9110 6.6.1, as nginx passes it); only when it
        // sent none does the engine write its own. Hop-by-hop and framing fields are the engine's.
        if (kinds[k] === HeaderKind.Date && !date) {
          date = true;
          ex.writeHeader(h[i] as string, h[i + 1]!);
        }
        continue;
      }
      const name = h[i] as string;
      if (drop?.includes(name.toLowerCase())) continue;
      if (policy.strips(name)) continue;
      const v = h[i + 1]!;
      // an encoded body is not the same bytes: its strong validator becomes weak (RFC 9110 8.8.3)
      ex.writeHeader(name, enc !== null && name.length === 4 && name.toLowerCase() === 'etag' ? weakEtag(v) : v);
    }
    if (this.tap !== null) this.tap.writeHeaders(ex);
    if (this.setCookie !== '') ex.writeHeader('Set-Cookie', this.setCookie);
    switch (p.framing) {
      case Framing.None:
        // HEAD, 204, 304: relay the length the server announced, send no body
        if (p.contentLength >= 0 && p.statusCode !== 204) ex.writeHeader('Content-Length', String(p.contentLength));
        ex.endHead(ResponseBody.None, false);
        ex.end();
        this.clientDone = true;
        break;
      case Framing.Length:
        if (enc !== null) {
          ex.endHead(ResponseBody.Unknown, false);
          break;
        }
        ex.endHead(p.contentLength, false);
        if (p.contentLength === 0) {
          ex.end();
          this.clientDone = true;
        }
        break;
      default:
        ex.endHead(ResponseBody.Unknown, false);
    }
    if (enc !== null) {
      this.encoder = enc;
      enc.start(ex, this);
    }
  }

  /** onResponseBody relays a piece of the body, straight from the read buffer. */
  onResponseBody(buf: Buffer, start: number, end: number): void {
    if (this.tap !== null) this.tap.onBody(buf, start, end);
    const ex = this.client;
    if (ex === null || this.clientDone) return;
    const enc = this.encoder;
    if (enc !== null) {
      if (!enc.write(buf, start, end)) this.pauseUpstream();
      return;
    }
    this.bytesOut += end - start;
    if (ex.write(buf, start, end)) return;
    this.backedUp = true;
    // the engine still refers to the bytes: keep the read buffer they are in from being reused
    if (ex.keepsReferences && (this.leases === null || !this.leases.includes(buf))) {
      const lease = retain(buf);
      if (lease !== null) (this.leases ??= []).push(lease);
    }
    this.pauseUpstream();
  }

  /** endBody completes the client's response once the server's is complete. */
  protected endBody(): void {
    const ex = this.client;
    if (ex !== null && !this.clientDone) {
      if (this.encoder !== null) return this.encoder.end(); // done at onEncoderDone
      ex.end();
      // a tail the client has not taken yet: done when onClientWritable says it left
      if (!this.backedUp) this.clientDone = true;
    }
  }

  /** onClientWritable: the client took what was written; read on from the server. */
  onClientWritable(): void {
    if (this.encoder !== null) return this.encoder.onClientWritable();
    this.backedUp = false;
    this.releaseLeases();
    if (this.upstreamDone) {
      if (this.client !== null) this.clientDone = true;
      this.maybeFinish();
      return;
    }
    this.resumeUpstream();
  }

  // ---- EncoderOwner --------------------------------------------------------------------------

  onEncoderDrain(): void {
    if (!this.upstreamDone) this.resumeUpstream();
  }

  onEncoderDone(): void {
    this.encoder = null;
    if (this.client !== null) this.clientDone = true;
    this.maybeFinish();
  }

  onEncoderFailed(): void {
    this.encoder = null;
    const ex = this.client;
    // as if the client had left (the server's side is cancelled), and its connection is closed
    this.onClientAborted();
    ex?.abort();
  }

  /** dropEncoder discards the body's encoding (the client left, or its response is cut off). */
  protected dropEncoder(): void {
    const enc = this.encoder;
    if (enc === null) return;
    this.encoder = null;
    enc.destroy();
  }

  /** releaseLeases gives back the read buffers held for the client (also when it left). */
  protected releaseLeases(): void {
    const l = this.leases;
    if (l === null) return;
    this.leases = null;
    for (const b of l) release(b);
  }
}
