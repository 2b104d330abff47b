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
 * compression) watches the response and may answer the client itself.
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
 * ResponseTap observes a proxied response and may answer the client itself: the response cache's
 * hook (store a copy while streaming, answer from a refreshed or stale entry) and compression's.
 */
export interface ResponseTap extends HeaderWriter {
  /** the head arrived; true takes the client response over (nothing of this response is relayed) */
  onHead(p: ResponseParser, client: ClientExchange): boolean;
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

export abstract class ResponseWriter {
  /** the client; null once it left or the exchange ended abruptly */
  client: ClientExchange | null;
  // what metrics and the access log read when the request finishes (obs/observe.ts)
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

  /** writeHead relays the status and fields of the response in `parser` (inside the read's cork). */
  protected writeHead(p: ResponseParser): void {
    const ex = this.client!;
    ex.writeStatus(p.statusCode, p.reason);
    const policy = this.settings.responses;
    if (policy.serverHeader !== null) ex.writeHeader('Server', policy.serverHeader);
    if (this.hsts !== null) ex.writeHeader('Strict-Transport-Security', this.hsts);
    const h = p.headers;
    const kinds = p.kinds;
    const drop = p.connectionTokens;
    for (let i = 0, k = 0; i < h.length; i += 2, k++) {
      if (kinds[k] !== HeaderKind.Other) continue; // hop-by-hop, framing, Date (the engine writes its own)
      const name = h[i] as string;
      if (drop?.includes(name.toLowerCase())) continue;
      if (policy.strips(name)) continue;
      ex.writeHeader(name, h[i + 1]!);
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
        ex.endHead(p.contentLength, false);
        if (p.contentLength === 0) {
          ex.end();
          this.clientDone = true;
        }
        break;
      default:
        ex.endHead(ResponseBody.Unknown, false);
    }
  }

  /** onResponseBody relays a piece of the body, straight from the read buffer. */
  onResponseBody(buf: Buffer, start: number, end: number): void {
    if (this.tap !== null) this.tap.onBody(buf, start, end);
    const ex = this.client;
    if (ex === null || this.clientDone) return;
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
      ex.end();
      // a tail the client has not taken yet: done when onClientWritable says it left
      if (!this.backedUp) this.clientDone = true;
    }
  }

  /** onClientWritable: the client took what was written; read on from the server. */
  onClientWritable(): void {
    this.backedUp = false;
    this.releaseLeases();
    if (this.upstreamDone) {
      if (this.client !== null) this.clientDone = true;
      this.maybeFinish();
      return;
    }
    this.resumeUpstream();
  }

  /** releaseLeases gives back the read buffers held for the client (also when it left). */
  protected releaseLeases(): void {
    const l = this.leases;
    if (l === null) return;
    this.leases = null;
    for (const b of l) release(b);
  }
}
