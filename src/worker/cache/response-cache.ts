/**
 * The response cache of a worker (RFC 9111 shared cache), for routes that turn it on.
 *
 * A request on a cached route is decided here before any server is picked:
 *   - GET/HEAD with a usable stored response: answered from memory (fresh, max-stale, or
 *     stale-while-revalidate with one background refresh per URL); a client's own conditional
 *     request gets 304.
 *   - otherwise a fill: one ProxyRequest whose ResponseTap tees the body into the store while it
 *     streams to the client (responses over maxObjectBytes stream through, never buffered whole).
 *     A stale entry is revalidated (If-None-Match / If-Modified-Since); a 304 refreshes it and the
 *     client is answered from it. Server errors fall back to a stale entry where stale-if-error
 *     allows.
 *   - concurrent misses for one URL wait for the first one's fill (request coalescing), at most
 *     lockTimeoutMs, then go upstream on their own.
 *   - unsafe methods pass through and invalidate the URL (and Location/Content-Location) on a
 *     non-error answer.
 * Every response of a cached route carries Cache-Status (RFC 9211).
 */
import type { HttpRequest, HttpResponse } from '../../uws.js';
import type { CacheConfig, Config, RouteConfig } from '../../config/schema.js';
import { ProxyRequest, statusLine, type ProxyHost, type ResponseTap } from '../proxy.js';
import type { RouteTarget } from '../router.js';
import { hostOnly } from '../router.js';
import type { Upstream } from '../upstream/upstream.js';
import { Framing, type ResponseParser } from '../upstream/response-parser.js';
import { CacheRequest } from './cache-request.js';
import {
  currentAge,
  evaluate,
  freshnessLifetime,
  initialAge,
  notModified,
  notStorableReason,
  parseVary,
  refreshedFacts,
  responseFacts,
  staleIfErrorAllowed,
  STALE_IF_ERROR_STATUSES,
  storedFields,
  updatedFields,
  Use,
  varyStar,
  type CacheEntry,
  type PolicyOptions,
} from './policy.js';
import { CacheStore, Miss, variantKey } from './store.js';
import { targetList } from './targeted.js';
import { NullResponse } from './null-response.js';
import { BufferWriter } from '../buffer-writer.js';
import { compress } from '../compress/compressor.js';
import { CompressTap, writeEncodedHead } from '../compress/compress-tap.js';
import { compressibleType, negotiate, type Alg, type CompressPolicy } from '../compress/negotiate.js';
import { responsePolicy } from '../guard/response-policy.js';

/** RoutePolicy is a route's resolved cache settings. */
export interface RoutePolicy extends PolicyOptions {
  lockTimeoutMs: number;
}

/** routePolicy resolves a route's "cache" setting, or null when the route does not cache. */
export function routePolicy(cfg: Config, route: RouteConfig): RoutePolicy | null {
  const rc = route.cache;
  if (rc === undefined || rc === false) return null;
  const base: CacheConfig = cfg.cache;
  const o = rc === true ? {} : rc;
  return {
    lockTimeoutMs: o.lockTimeoutMs ?? base.lockTimeoutMs,
    heuristicPercent: o.heuristicPercent ?? base.heuristicPercent,
    heuristicMaxSeconds: o.heuristicMaxSeconds ?? base.heuristicMaxSeconds,
    targets: targetList(base),
  };
}

let store: CacheStore | null = null;

/** configureCache (re)creates the worker's store when its size limits change; entries survive other reloads. */
export function configureCache(c: CacheConfig): void {
  if (store !== null && store.maxBytes === c.maxBytes && store.maxObjectBytes === c.maxObjectBytes) return;
  store?.clear();
  store = new CacheStore(c.maxBytes, c.maxObjectBytes);
}

/** Counters reported to the primary. */
export const cacheStats = { hits: 0, misses: 0, stored: 0, revalidated: 0, staleServed: 0, coalesced: 0, purged: 0 };

/** cacheSize returns the entries and bytes held. */
export function cacheSize(): { entries: number; bytes: number } {
  return { entries: store?.size ?? 0, bytes: store?.bytes ?? 0 };
}

/** purgeCache drops entries by URL or prefix (see CacheStore.purge); returns how many. */
export function purgeCache(value: string, prefix: boolean): number {
  const n = store === null ? 0 : store.purge(purgeSubject(value), prefix);
  cacheStats.purged += n;
  return n;
}

/** purgeSubject turns "http://Host:8080/a?b" into the store's "host/a?b"; paths stay as they are. */
function purgeSubject(v: string): string {
  if (v.startsWith('/')) return v;
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)(.*)$/i.exec(v);
  if (!m) return v;
  return hostOnly(m[1]!) + (m[2] || '/');
}

/** One client request on a cached route. */
interface Ctx {
  res: HttpResponse;
  creq: CacheRequest;
  policy: RoutePolicy;
  route: RouteTarget;
  upstream: Upstream;
  host: ProxyHost;
  aborted: boolean;
  writer: BufferWriter | null;
  /** the route's compression, and the encoding this client gets (null: identity) */
  compress: CompressPolicy | null;
  alg: Alg | null;
}

/** A fill in progress for one URL, with the requests waiting for it. */
interface Pending {
  key: string;
  waiters: Ctx[];
  timer: NodeJS.Timeout | null;
  done: boolean;
}
const pending = new Map<string, Pending>();

const SAFE_NOT_CACHED = new Set(['OPTIONS', 'TRACE', 'CONNECT']);

/** handleCached answers or forwards a request on a cached route (runs inside the uWS handler). */
export function handleCached(
  res: HttpResponse,
  req: HttpRequest,
  method: string,
  target: string,
  route: RouteTarget,
  upstream: Upstream,
  policy: RoutePolicy,
  host: ProxyHost,
  cp: CompressPolicy | null,
): void {
  const alg = cp !== null && method !== 'HEAD' ? negotiate(req.getHeader('accept-encoding'), cp.algorithms) : null;
  if (method !== 'GET' && method !== 'HEAD') {
    const pr = new ProxyRequest(res, host, route, upstream);
    const unsafe = !SAFE_NOT_CACHED.has(method);
    pr.tap = new PassTap(
      'fulcrum; fwd=method',
      unsafe ? hostOnly(req.getHeader('host')) : null,
      target,
      alg !== null ? new CompressTap(cp!, alg, host, 'fulcrum; fwd=method') : null,
    );
    pr.start(req, method, target);
    return;
  }
  const c: Ctx = { res, creq: new CacheRequest(req, method, target), policy, route, upstream, host, aborted: false, writer: null, compress: cp, alg };
  decide(c, false, false);
}

const ttlOut = [0];

function decide(c: Ctx, noCoalesce: boolean, leaderFailed: boolean): void {
  const r = c.creq;
  const st = store!;
  if (r.hasBody) return pass(c, 'fulcrum; fwd=bypass; detail=request-body');
  let e = st.lookup(r);
  let fwd = st.lastMiss === Miss.Vary ? 'vary-miss' : 'uri-miss';
  if (e !== undefined && r.hasAuthorization && !e.authOk) {
    // RFC 9111 3.5: only responses that say so (public, s-maxage, must-revalidate) serve requests with Authorization
    e = undefined;
    fwd = 'miss';
  }
  const now = Date.now();
  if (e !== undefined) {
    const use = evaluate(e, r, now, ttlOut);
    const ttl = Math.round(ttlOut[0]!);
    if (leaderFailed && use !== Use.Fresh && staleIfErrorAllowed(e, r, now)) {
      cacheStats.staleServed++;
      return serveHit(c, e, `fulcrum; hit; ttl=${ttl}; detail=stale-if-error`);
    }
    switch (use) {
      case Use.Fresh:
        cacheStats.hits++;
        return serveHit(c, e, noCoalesce ? `fulcrum; hit; ttl=${ttl}; detail=coalesced` : `fulcrum; hit; ttl=${ttl}`);
      case Use.Stale:
        cacheStats.staleServed++;
        return serveHit(c, e, `fulcrum; hit; ttl=${ttl}; detail=max-stale`);
      case Use.StaleWhileRevalidate:
        cacheStats.staleServed++;
        if (!pending.has(r.key)) backgroundRefresh(c, e);
        return serveHit(c, e, `fulcrum; hit; ttl=${ttl}; detail=stale-while-revalidate`);
      case Use.RevalidateRequested:
        fwd = 'request';
        break;
      default:
        fwd = 'stale';
    }
  }
  if (r.cc?.onlyIfCached) return gatewayTimeout(c);
  cacheStats.misses++;
  if (r.method === 'HEAD') return pass(c, `fulcrum; fwd=${fwd}; detail=head`);
  if (r.hasRange) return pass(c, `fulcrum; fwd=${fwd}; detail=range`);
  if (!noCoalesce) {
    const p = pending.get(r.key);
    if (p !== undefined) return wait(c, p);
  }
  fill(c, e ?? null, fwd);
}

function pass(c: Ctx, cacheStatus: string): void {
  c.creq.forPass();
  const pr = new ProxyRequest(c.res, c.host, c.route, c.upstream);
  pr.tap = new PassTap(cacheStatus, null, '', null);
  pr.start(c.creq.asHttpRequest(), c.creq.method, c.creq.target);
}

function gatewayTimeout(c: Ctx): void {
  if (c.aborted) return;
  c.res.cork(() => {
    c.res
      .writeStatus('504 Gateway Timeout')
      .writeHeader('Content-Type', 'text/plain; charset=utf-8')
      .writeHeader('Cache-Status', 'fulcrum; fwd=miss; detail=only-if-cached');
    c.res.end('504 Gateway Timeout\nnot in cache (only-if-cached)\n');
  });
}

function fill(c: Ctx, stale: CacheEntry | null, fwd: string): void {
  const r = c.creq;
  const tap = new FillTap(c, stale, fwd, false);
  if (!pending.has(r.key)) tap.pending = lead(r.key, c.policy.lockTimeoutMs);
  r.forFill(stale?.etag ?? null, stale?.lastModified ?? null);
  const pr = new ProxyRequest(c.res, c.host, c.route, c.upstream);
  pr.tap = tap;
  pr.start(r.asHttpRequest(), r.method, r.target);
}

/** backgroundRefresh revalidates e without a client (stale-while-revalidate), once per URL at a time. */
function backgroundRefresh(c: Ctx, e: CacheEntry): void {
  const bg: Ctx = { ...c, res: new NullResponse(c.res.getRemoteAddress().slice(0)) as unknown as HttpResponse, aborted: false, writer: null };
  const tap = new FillTap(bg, e, 'stale', true);
  tap.pending = lead(c.creq.key, c.policy.lockTimeoutMs);
  // the fields are shared with the client's request, which is answered from memory now
  const r = Object.create(c.creq) as CacheRequest;
  r.forFill(e.etag, e.lastModified);
  bg.creq = r;
  const pr = new ProxyRequest(bg.res, c.host, c.route, c.upstream);
  pr.tap = tap;
  pr.start(r.asHttpRequest(), 'GET', r.target);
}

function lead(key: string, lockTimeoutMs: number): Pending {
  const p: Pending = { key, waiters: [], timer: null, done: false };
  pending.set(key, p);
  p.timer = setTimeout(() => release(p, false), lockTimeoutMs);
  return p;
}

function wait(c: Ctx, p: Pending): void {
  p.waiters.push(c);
  cacheStats.coalesced++;
  c.host.requestStarted();
  c.res.onAborted(() => {
    c.aborted = true;
    c.writer?.abort();
  });
}

/** release ends a fill's coalescing: the waiters look again (and go upstream on their own if needed). */
function release(p: Pending, failed: boolean): void {
  if (p.done) return;
  p.done = true;
  if (p.timer !== null) clearTimeout(p.timer);
  if (pending.get(p.key) === p) pending.delete(p.key);
  const waiters = p.waiters;
  p.waiters = [];
  for (const w of waiters) {
    w.host.requestFinished();
    if (!w.aborted) decide(w, true, failed);
  }
}

// ---- answering from the store ---------------------------------------------------------------

/** Fields a 304 carries from the stored response (RFC 9110 15.4.5). */
const NOT_MODIFIED_FIELDS = new Set(['cache-control', 'content-location', 'etag', 'expires', 'vary', 'last-modified']);

function serveHit(c: Ctx, e: CacheEntry, cacheStatus: string): void {
  if (c.aborted) return;
  const nm = notModified(e, c.creq);
  const cp = c.compress;
  if (nm || cp === null || c.creq.method !== 'GET' || !entryCompressible(e, cp)) return writeEntry(c, e, cacheStatus, nm, null, null);
  const alg = c.alg;
  if (alg === null) return writeEntry(c, e, cacheStatus, false, null, null, true);
  const enc = e.encodings?.get(alg);
  if (enc !== undefined) return writeEntry(c, e, cacheStatus, false, alg, enc);
  // compressed once per entry and encoding: concurrent requests share the pool task, the result is stored with the entry
  let job = e.compressing?.get(alg);
  if (job === undefined) {
    job = compress(e.body, alg, false).then((out) => {
      (e.encodings ??= new Map()).set(alg, out);
      e.size = CacheStore.entrySize(e);
      store?.refreshed(e);
      return out;
    });
    const jobs = (e.compressing ??= new Map());
    jobs.set(alg, job);
    const clear = () => jobs.delete(alg);
    job.then(clear, clear);
  }
  c.host.requestStarted();
  c.res.onAborted(() => {
    c.aborted = true;
    c.writer?.abort();
  });
  job.then(
    (out) => {
      c.host.requestFinished();
      if (!c.aborted) writeEntry(c, e, cacheStatus, false, alg, out);
    },
    () => {
      c.host.requestFinished();
      if (!c.aborted) writeEntry(c, e, cacheStatus, false, null, null, true);
    },
  );
}

/** entryCompressible: would the route compress this stored response? */
function entryCompressible(e: CacheEntry, cp: CompressPolicy): boolean {
  return (
    e.compressibleType &&
    e.status >= 200 &&
    e.status < 300 &&
    e.status !== 204 &&
    e.body.length >= cp.minBytes &&
    e.body.length <= cp.maxBytes &&
    compressibleType(cp, e.contentType)
  );
}

let wCtx: Ctx | null = null;
let wEntry: CacheEntry | null = null;
let wStatus = '';
let wNotModified = false;
let wAlg: Alg | null = null;
let wBody: Buffer | null = null;
let wVary = false;
function corkedEntry(): void {
  const c = wCtx!;
  const e = wEntry!;
  const res = c.res;
  const age = String(Math.max(0, Math.floor(currentAge(e, Date.now()))));
  const h = e.headers;
  if (wNotModified) {
    res.writeStatus('304 Not Modified');
    for (let i = 0; i < h.length; i += 2) if (NOT_MODIFIED_FIELDS.has((h[i] as string).toLowerCase())) res.writeHeader(h[i] as string, h[i + 1]!);
    res.writeHeader('Age', age).writeHeader('Cache-Status', wStatus);
    res.endWithoutBody();
    return;
  }
  if (wAlg !== null) {
    writeEncodedHead(res, e.statusLine, h, wAlg);
    res.writeHeader('Age', age).writeHeader('Cache-Status', wStatus);
    c.writer = BufferWriter.endBuffered(res, wBody!, c.host);
    return;
  }
  res.writeStatus(e.statusLine);
  const server = responsePolicy().serverHeader;
  if (server !== null) res.writeHeader('Server', server);
  for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i] as string, h[i + 1]!);
  res.writeHeader('Age', age).writeHeader('Cache-Status', wStatus);
  if (wVary) res.writeHeader('Vary', 'Accept-Encoding');
  if (e.status === 204) {
    res.endWithoutBody();
    return;
  }
  if (c.creq.method === 'HEAD') {
    res.writeHeader('Content-Length', String(e.body.length));
    res.endWithoutBody();
    return;
  }
  c.writer = BufferWriter.endBuffered(res, e.body, c.host);
}

function writeEntry(c: Ctx, e: CacheEntry, cacheStatus: string, nm: boolean, alg: Alg | null, body: Buffer | null, vary = false): void {
  wCtx = c;
  wEntry = e;
  wStatus = cacheStatus;
  wNotModified = nm;
  wAlg = alg;
  wBody = body;
  wVary = vary;
  c.res.cork(corkedEntry);
  wCtx = wEntry = wBody = null;
}

// ---- taps on forwarded requests ---------------------------------------------------------------

/** PassTap labels a forwarded response and, for unsafe methods, invalidates what it changed (RFC 9111 4.4). */
class PassTap implements ResponseTap {
  constructor(
    private readonly cacheStatus: string,
    /** host of an unsafe request, or null */
    private readonly host: string | null,
    private readonly target: string,
    /** compression of the forwarded response, when the client accepts an encoding */
    private readonly inner: CompressTap | null,
  ) {}

  onHead(p: ResponseParser, res: HttpResponse | null): boolean {
    if (this.host !== null && p.statusCode < 400 && store !== null) {
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
    return this.inner?.onHead(p, res) === true;
  }
  writeHeaders(res: HttpResponse): void {
    if (this.inner !== null) this.inner.writeHeaders(res);
    else res.writeHeader('Cache-Status', this.cacheStatus);
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
class FillTap implements ResponseTap {
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

  constructor(
    private readonly c: Ctx,
    private readonly stale: CacheEntry | null,
    private readonly fwd: string,
    private readonly background: boolean,
  ) {
    this.cacheStatus = `fulcrum; fwd=${fwd}`;
  }

  onHead(p: ResponseParser, res: HttpResponse | null): boolean {
    const status = p.statusCode;
    const now = Date.now();
    const st = store!;
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
        this.inner = new CompressTap(this.c.compress!, this.c.alg, this.c.host, this.cacheStatus);
        return this.inner.onHead(p, res);
      }
      return false;
    }
    const headers = storedFields(p, responsePolicy(), false);
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
    // compressible with a known length: answer this client from the stored entry, compressed once
    // (chunked bodies stream through uncompressed and are compressed from the store on later hits)
    const cp = this.c.compress;
    if (cp !== null && this.c.alg !== null && !this.background && res !== null && p.framing === Framing.Length) {
      const e = this.entry;
      if (
        e.compressibleType &&
        status !== 204 &&
        status < 300 &&
        compressibleType(cp, e.contentType) &&
        p.contentLength >= cp.minBytes &&
        p.contentLength <= cp.maxBytes
      ) {
        this.answerFromStore = true;
        return true;
      }
    }
    return false;
  }

  /** refresh applies a 304's fields to the stored response (RFC 9111 4.3.4). */
  private refresh(e: CacheEntry, p: ResponseParser, now: number): void {
    const targets = this.c.policy.targets;
    const f = responseFacts(p.headers, targets);
    const merged = updatedFields(e.headers, storedFields(p, responsePolicy(), true));
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
    if (varyStar(vary)) {
      // validated for this request, which it answers, but it matches no later one (RFC 9111 4.1)
      e.varyNames = vary;
      store!.delete(e);
    } else store!.refreshed(e);
  }

  writeHeaders(res: HttpResponse): void {
    if (this.inner !== null) this.inner.writeHeaders(res);
    else res.writeHeader('Cache-Status', this.cacheStatus);
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (this.inner !== null) return this.inner.onBody(buf, start, end);
    if (this.state !== Fill.Collecting) return;
    this.bytes += end - start;
    if (this.bytes > store!.maxObjectBytes) {
      // larger than we keep: stop collecting, let it stream through
      this.state = Fill.Passing;
      this.chunks = [];
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
    store!.set(e);
    cacheStats.stored++;
    this.finishPending(false);
    if (this.answerFromStore) serveHit(this.c, e, this.cacheStatus);
  }

  onFailure(status: number, res: HttpResponse | null): boolean {
    if (this.inner !== null) return this.inner.onFailure(status);
    const wasHead = this.state === Fill.Head;
    this.state = Fill.Done;
    this.chunks = [];
    this.finishPending(true);
    const stale = this.stale;
    if (status < 500 || !wasHead || res === null || stale === null || this.background) return false;
    if (!staleIfErrorAllowed(stale, this.c.creq, Date.now())) return false;
    cacheStats.staleServed++;
    evaluate(stale, this.c.creq, Date.now(), ttlOut);
    serveHit(this.c, stale, `fulcrum; fwd=${this.fwd}; ttl=${Math.round(ttlOut[0]!)}; detail=stale-if-error`);
    return true;
  }

  onClientAborted(): void {
    this.inner?.onClientAborted();
    this.c.aborted = true;
    this.c.writer?.abort();
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
    release(p, failed);
  }
}
