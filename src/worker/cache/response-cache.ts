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
import type { CacheConfig } from '../../config/schema.js';
import { CompressTap } from '../compress/compress-tap.js';
import { negotiate, type CompressPolicy } from '../compress/negotiate.js';
import type { ClientExchange } from '../engine/exchange.js';
import { NullExchange } from '../engine/null-exchange.js';
import { ProxyRequest } from '../proxy/proxy-request.js';
import type { RouteTarget } from '../router.js';
import { hostOnly } from '../router.js';
import type { Upstream } from '../upstream/upstream.js';
import { CacheCtx, cacheStats, ttlOut, type CacheSettings, type RoutePolicy } from './cache-context.js';
import { CacheRequest } from './cache-request.js';
import { Pending, pendingFill } from './coalesce.js';
import { FillTap, PassTap } from './fill-tap.js';
import { evaluate, staleIfErrorAllowed, Use, type CacheEntry } from './policy.js';
import { gatewayTimeout, serveHit } from './serve-hit.js';
import { CacheStore, Miss } from './store.js';

/**
 * buildCacheStore returns the store of a config: `prev` (the running generation's, entries and
 * all) when its size limits did not change, else a new empty one.
 */
export function buildCacheStore(c: CacheConfig, prev: CacheStore | null): CacheStore {
  if (prev !== null && prev.maxBytes === c.maxBytes && prev.maxObjectBytes === c.maxObjectBytes) return prev;
  return new CacheStore(c.maxBytes, c.maxObjectBytes);
}

/** purgeCache drops entries of `store` by URL or prefix (see CacheStore.purge); returns how many. */
export function purgeCache(store: CacheStore, value: string, prefix: boolean): number {
  const n = store.purge(purgeSubject(value), prefix);
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

const SAFE_NOT_CACHED = new Set(['OPTIONS', 'TRACE', 'CONNECT']);

/** handleCached answers or forwards a request on a cached route. */
export function handleCached(
  ex: ClientExchange,
  route: RouteTarget,
  upstream: Upstream,
  policy: RoutePolicy,
  settings: CacheSettings,
  cp: CompressPolicy | null,
): void {
  const method = ex.method;
  const alg = cp !== null && method !== 'HEAD' ? negotiate(ex.field('accept-encoding'), cp.algorithms) : null;
  if (method !== 'GET' && method !== 'HEAD') {
    const pr = new ProxyRequest(ex, settings, route, upstream);
    const unsafe = !SAFE_NOT_CACHED.has(method);
    pr.tap = new PassTap(
      settings.store,
      'fulcrum; fwd=method',
      unsafe ? hostOnly(ex.field('host')) : null,
      ex.target,
      alg !== null ? new CompressTap(cp!, alg, settings, 'fulcrum; fwd=method') : null,
    );
    pr.start();
    return;
  }
  const c = new CacheCtx(ex, new CacheRequest(ex), policy, route, upstream, settings, cp, alg);
  decide(c, false, false);
}

function decide(c: CacheCtx, noCoalesce: boolean, leaderFailed: boolean): void {
  const r = c.creq;
  const st = c.settings.store;
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
      return answerFromStore(c, e, `fulcrum; hit; ttl=${ttl}; detail=stale-if-error`);
    }
    switch (use) {
      case Use.Fresh:
        cacheStats.hits++;
        return answerFromStore(c, e, noCoalesce ? `fulcrum; hit; ttl=${ttl}; detail=coalesced` : `fulcrum; hit; ttl=${ttl}`);
      case Use.Stale:
        cacheStats.staleServed++;
        return answerFromStore(c, e, `fulcrum; hit; ttl=${ttl}; detail=max-stale`);
      case Use.StaleWhileRevalidate:
        cacheStats.staleServed++;
        if (pendingFill(r.key) === undefined) backgroundRefresh(c, e);
        return answerFromStore(c, e, `fulcrum; hit; ttl=${ttl}; detail=stale-while-revalidate`);
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
    const p = pendingFill(r.key);
    if (p !== undefined) return p.wait(c);
  }
  fill(c, e ?? null, fwd);
}

/** answerFromStore serves a hit the cache answers alone (it writes its own access log line). */
function answerFromStore(c: CacheCtx, e: CacheEntry, cacheStatus: string): void {
  c.logsAnswer = true;
  serveHit(c, e, cacheStatus);
}

function pass(c: CacheCtx, cacheStatus: string): void {
  c.creq.forPass();
  const pr = new ProxyRequest(c.ex, c.settings, c.route, c.upstream);
  pr.tap = new PassTap(c.settings.store, cacheStatus, null, '', null);
  pr.start(c.creq);
}

function fill(c: CacheCtx, stale: CacheEntry | null, fwd: string): void {
  const r = c.creq;
  const tap = new FillTap(c, stale, fwd, false);
  if (pendingFill(r.key) === undefined) tap.pending = new Pending(r.key, c.policy.lockTimeoutMs, retry);
  r.forFill(stale?.etag ?? null, stale?.lastModified ?? null);
  const pr = new ProxyRequest(c.ex, c.settings, c.route, c.upstream);
  pr.tap = tap;
  pr.start(r);
}

/** retry looks again for a request that waited for a fill (coalesce.ts). */
function retry(c: CacheCtx, failed: boolean): void {
  decide(c, true, failed);
}

/** backgroundRefresh revalidates e without a client (stale-while-revalidate), once per URL at a time. */
function backgroundRefresh(c: CacheCtx, e: CacheEntry): void {
  // the fields are shared with the client's request, which is answered from memory now
  const r = Object.create(c.creq) as CacheRequest;
  r.forFill(e.etag, e.lastModified);
  const client = new NullExchange({ method: 'GET', target: r.target, secure: r.secure, fields: r.fields, peer: r.peer });
  const bg = new CacheCtx(client, r, c.policy, c.route, c.upstream, c.settings, c.compress, c.alg);
  const tap = new FillTap(bg, e, 'stale', true);
  tap.pending = new Pending(r.key, c.policy.lockTimeoutMs, retry);
  const pr = new ProxyRequest(bg.ex, c.settings, c.route, c.upstream);
  pr.tap = tap;
  pr.start(r);
}
