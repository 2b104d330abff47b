/**
 * The response cache's taps on forwarded requests (RFC 9111 3, 4.3.4, 4.4): PassTap labels a
 * response that is not stored and, for unsafe methods, invalidates what it changed; FillTap tees a
 * response into the store while it streams to the client, or answers the client from the entry it
 * revalidated (a 304, or an error that stale-if-error covers).
 *
 * Compression of a fill (the miss is compressed like any response, and the hits that follow are
 * not compressed again): a body of a known length within compression.maxBytes is stored first and
 * answered from the store, compressed once (serve-hit.ts); a longer or chunked one is compressed as
 * it streams to the client, and the compressed body the stream produced is kept with the stored
 * entry as its variant for that encoding.
 */
import { statusLine } from '../../net/http-status.js';
import { CompressTap, Eligible, eligibleHead, streamEncoder } from '../compress/compress-tap.js';
import type { Alg } from '../compress/negotiate.js';
import type { StreamEncoder, VariantSink } from '../compress/stream-encoder.js';
import type { ClientExchange } from '../engine/exchange.js';
import type { HeaderSink } from '../guard/edge-response.js';
import type { BodyEncoder, ResponseTap } from '../proxy/response-writer.js';
import { hostOnly } from '../router.js';
import { Framing, type ResponseParser } from '../upstream/response-parser.js';
import { cacheStats, ttlOut, type CacheCtx } from './cache-context.js';
import type { Pending } from './coalesce.js';
import {
  evaluate,
  freshnessLifetime,
  initialAge,
  notStorableReason,
  parseVary,
  refreshedFacts,
  responseFacts,
  staleIfErrorAllowed,
  STALE_IF_ERROR_STATUSES,
  storedFields,
  updatedFields,
  varyStar,
  type CacheEntry,
} from './policy.js';
import { awaitVariant, serveHit } from './serve-hit.js';
import { CacheStore, variantKey } from './store.js';

/** PassTap labels a forwarded response and, for unsafe methods, invalidates what it changed (RFC 9111 4.4). */
export class PassTap implements ResponseTap {
  constructor(
    private readonly store: CacheStore,
    private readonly cacheStatus: string,
    /** host of an unsafe request, or null */
    private readonly host: string | null,
    private readonly target: string,
    /** compression of the forwarded response, when the client accepts an encoding */
    private readonly inner: CompressTap | null,
  ) {}

  onHead(p: ResponseParser, ex: ClientExchange): boolean {
    const store = this.store;
    if (this.host !== null && p.statusCode < 400) {
      store.invalidateUri(this.host + this.target);
      const h = p.headers;
      for (let i = 0; i < h.length; i += 2) {
        const n = (h[i] as string).toLowerCase();
        if (n === 'location' || n === 'content-location') {
          const k = sameOriginKey(String(h[i + 1]), this.host);
          if (k !== null) store.invalidateUri(k);
        }
      }
    }
    return this.inner?.onHead(p, ex) === true;
  }
  encoder(): BodyEncoder | null {
    return this.inner?.encoder() ?? null;
  }
  writeHeaders(out: HeaderSink): void {
    if (this.inner !== null) this.inner.writeHeaders(out);
    else out.writeHeader('Cache-Status', this.cacheStatus);
  }
  onBody(buf: Buffer, start: number, end: number): void {
    this.inner?.onBody(buf, start, end);
  }
  onEnd(): void {
    this.inner?.onEnd();
  }
  onFailure(status: number): boolean {
    return this.inner?.onFailure(status) === true;
  }
  onClientAborted(): void {
    this.inner?.onClientAborted();
  }
}

/** sameOriginKey returns the store key of a Location-like value on the same host, or null. */
function sameOriginKey(v: string, host: string): string | null {
  if (v.startsWith('/') && !v.startsWith('//')) return host + v;
  const m = /^https?:\/\/([^/]+)(\/.*)?$/i.exec(v);
  if (m && hostOnly(m[1]!) === host) return host + (m[2] ?? '/');
  return null;
}

const enum Fill {
  Head,
  Collecting,
  Passing,
  Done,
  TakenOver,
}

/** FillTap tees a forwarded response into the store, or answers from the entry it revalidated. */
export class FillTap implements ResponseTap, VariantSink {
  pending: Pending | null = null;
  private state = Fill.Head;
  private cacheStatus: string;
  private readonly requestTime = Date.now();
  private entry: Omit<CacheEntry, 'body' | 'size'> | null = null;
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** the client is answered from the stored entry once the body is complete (compression) */
  private answerFromStore = false;
  /** compression of a response that is not stored */
  private inner: CompressTap | null = null;
  /** how a stored response is compressed as it streams (Stream, StreamFlushed), or No */
  private streamed = Eligible.No;
  /** the response's type is compressible: Vary: Accept-Encoding */
  private vary = false;
  /** the stream's encoder, once handed out */
  private enc: StreamEncoder | null = null;
  /** hands the streamed variant to the stored entry (set once the entry is stored) */
  private settleVariant: ((body: Buffer | null) => void) | null = null;

  constructor(
    private readonly c: CacheCtx,
    private readonly stale: CacheEntry | null,
    private readonly fwd: string,
    private readonly background: boolean,
  ) {
    this.cacheStatus = `fulcrum; fwd=${fwd}`;
  }

  onHead(p: ResponseParser, ex: ClientExchange): boolean {
    const status = p.statusCode;
    const now = Date.now();
    const st = this.c.settings.store;
    const r = this.c.creq;
    const stale = this.stale;
    if (stale !== null && status === 304) {
      this.refresh(stale, p, now);
      cacheStats.revalidated++;
      this.state = Fill.TakenOver;
      this.finishPending(false);
      if (!this.background) {
        evaluate(stale, r, now, ttlOut);
        serveHit(this.c, stale, `fulcrum; fwd=${this.fwd}; fwd-status=304; ttl=${Math.round(ttlOut[0]!)}`);
      }
      return true;
    }
    if (stale !== null && STALE_IF_ERROR_STATUSES.has(status) && staleIfErrorAllowed(stale, r, now)) {
      this.state = Fill.TakenOver;
      this.finishPending(true);
      if (!this.background) {
        cacheStats.staleServed++;
        evaluate(stale, r, now, ttlOut);
        serveHit(this.c, stale, `fulcrum; fwd=${this.fwd}; fwd-status=${status}; ttl=${Math.round(ttlOut[0]!)}; detail=stale-if-error`);
      }
      return true;
    }
    const f = responseFacts(p.headers, this.c.policy.targets);
    let reason = notStorableReason(status, f, r);
    if (reason === null && p.framing === Framing.Length && p.contentLength > st.maxObjectBytes) reason = 'too-large';
    if (reason === null && (p.framing === Framing.Close || p.framing === Framing.Chunked) && st.maxObjectBytes === 0) reason = 'too-large';
    const lifetime = reason === null ? freshnessLifetime(status, f, now, this.c.policy) : 0;
    const age = initialAge(f, this.requestTime, now);
    if (reason === null && lifetime - age <= 0 && f.etag === null && f.lastModified === null && f.cc.staleIfError < 0 && f.cc.staleWhileRevalidate < 0)
      reason = 'stale-on-arrival';
    if (reason !== null) {
      this.state = Fill.Passing;
      this.cacheStatus = `fulcrum; fwd=${this.fwd}; fwd-status=${status}; detail=${reason}`;
      // the server answered with something else than the stored response: do not serve that one again
      if (stale !== null && status < 500) st.invalidateUri(r.key);
      this.finishPending(false);
      if (this.c.alg !== null && !this.background) {
        this.inner = new CompressTap(this.c.compress!, this.c.alg, this.c.settings, this.cacheStatus);
        return this.inner.onHead(p, ex);
      }
      return false;
    }
    const headers = storedFields(p, this.c.settings.responses, false);
    const varyNames = parseVary(f.vary);
    this.entry = {
      variantKey: variantKey(r.key, varyNames, r),
      primaryKey: r.key,
      status,
      statusLine: statusLine(status, p.reason),
      headers,
      requestTime: this.requestTime,
      responseTime: now,
      initialAge: age,
      lifetime,
      cc: f.cc,
      targeted: f.targeted,
      etag: f.etag,
      lastModified: f.lastModified,
      varyNames,
      // requests with Authorization are answered only from responses that say they may be (fulcrum's
      // reading of RFC 9111 3.5, as Varnish: an anonymous page is not assumed to suit an authenticated user)
      authOk: f.cc.public || f.cc.sMaxage >= 0 || f.cc.mustRevalidate,
      contentType: f.contentType,
      compressibleType: !f.contentEncoding && !f.contentRange && !f.noTransform,
      encodings: null,
      compressing: null,
    };
    this.state = Fill.Collecting;
    this.cacheStatus = `fulcrum; fwd=${this.fwd}; fwd-status=${status}; stored; ttl=${Math.round(lifetime - age)}`;
    const cp = this.c.compress;
    if (cp !== null && this.c.alg !== null && !this.background) {
      const how = eligibleHead(p, cp);
      this.vary = how !== Eligible.No;
      // a known length within maxBytes: answer this client from the stored entry, compressed once
      if (how === Eligible.Whole) {
        this.answerFromStore = true;
        return true;
      }
      // longer or chunked: compressed as it streams, and the result kept with the entry
      if (how === Eligible.Stream || how === Eligible.StreamFlushed) this.streamed = how;
    }
    return false;
  }

  /** refresh applies a 304's fields to the stored response (RFC 9111 4.3.4). */
  private refresh(e: CacheEntry, p: ResponseParser, now: number): void {
    const targets = this.c.policy.targets;
    const f = responseFacts(p.headers, targets);
    const merged = updatedFields(e.headers, storedFields(p, this.c.settings.responses, true));
    // the freshness inputs come from the stored response's fields as updated
    const fm = refreshedFacts(e, f, merged, targets);
    e.headers = merged;
    e.cc = fm.cc;
    e.targeted = fm.targeted;
    e.etag = fm.etag;
    e.lastModified = fm.lastModified;
    e.requestTime = this.requestTime;
    e.responseTime = now;
    e.initialAge = initialAge(f, this.requestTime, now);
    e.lifetime = freshnessLifetime(e.status, fm, now, this.c.policy);
    e.size = CacheStore.entrySize(e);
    const vary = parseVary(fm.vary);
    const store = this.c.settings.store;
    if (varyStar(vary)) {
      // validated for this request, which it answers, but it matches no later one (RFC 9111 4.1)
      e.varyNames = vary;
      store.delete(e);
    } else store.refreshed(e);
  }

  encoder(): BodyEncoder | null {
    if (this.inner !== null) return this.inner.encoder();
    if (this.streamed === Eligible.No) return null;
    this.enc = streamEncoder(this.c.settings, this.c.alg!, this.streamed, this, this.c.settings.store.maxObjectBytes);
    return this.enc;
  }

  writeHeaders(out: HeaderSink): void {
    if (this.inner !== null) return this.inner.writeHeaders(out);
    out.writeHeader('Cache-Status', this.cacheStatus);
    if (this.enc !== null) out.writeHeader('Content-Encoding', this.c.alg!);
    if (this.vary) out.writeHeader('Vary', 'Accept-Encoding');
  }

  /** onVariant: the streamed miss's compressed body, for the stored entry (null: the stream did not complete). */
  onVariant(_alg: Alg, body: Buffer | null): void {
    const settle = this.settleVariant;
    this.settleVariant = null;
    settle?.(body);
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (this.inner !== null) return this.inner.onBody(buf, start, end);
    if (this.state !== Fill.Collecting) return;
    this.bytes += end - start;
    if (this.bytes > this.c.settings.store.maxObjectBytes) {
      // larger than we keep: stop collecting, let it stream through
      this.state = Fill.Passing;
      this.chunks = [];
      this.enc?.stopKeeping();
      this.finishPending(false);
      return;
    }
    this.chunks.push(Buffer.from(buf.subarray(start, end)));
  }

  onEnd(): void {
    if (this.inner !== null) return this.inner.onEnd();
    if (this.state !== Fill.Collecting) return;
    this.state = Fill.Done;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [];
    const e = this.entry as CacheEntry;
    e.body = body;
    e.size = CacheStore.entrySize(e);
    this.c.settings.store.set(e);
    cacheStats.stored++;
    // the stream's compressed body joins the entry when it is complete; hits meanwhile wait for it
    if (this.enc !== null) this.settleVariant = awaitVariant(this.c.settings, e, this.c.alg!);
    this.finishPending(false);
    if (this.answerFromStore) serveHit(this.c, e, this.cacheStatus);
  }

  onFailure(status: number, ex: ClientExchange | null): boolean {
    if (this.inner !== null) return this.inner.onFailure(status);
    const wasHead = this.state === Fill.Head;
    this.state = Fill.Done;
    this.chunks = [];
    this.finishPending(true);
    const stale = this.stale;
    if (status < 500 || !wasHead || ex === null || stale === null || this.background) return false;
    if (!staleIfErrorAllowed(stale, this.c.creq, Date.now())) return false;
    cacheStats.staleServed++;
    evaluate(stale, this.c.creq, Date.now(), ttlOut);
    serveHit(this.c, stale, `fulcrum; fwd=${this.fwd}; ttl=${Math.round(ttlOut[0]!)}; detail=stale-if-error`);
    return true;
  }

  onClientAborted(): void {
    this.inner?.onClientAborted();
    this.c.aborted = true;
    if (this.state === Fill.Head || this.state === Fill.Collecting) {
      // the upstream request is cancelled with the client: the waiters go on their own
      this.state = Fill.Done;
      this.chunks = [];
      this.finishPending(false);
    }
  }

  private finishPending(failed: boolean): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    p.release(failed);
  }
}
