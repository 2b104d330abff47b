/**
 * The RFC 9111 rules of a shared cache, as pure functions over parsed responses and requests:
 * whether a response may be stored (section 3), how long it is fresh (4.2.1, heuristics in
 * 4.2.2), its age (4.2.3), whether a stored response may answer a request (4.2, 4.2.4, 5.2.1,
 * RFC 5861's stale-while-revalidate and stale-if-error), and how a client's own conditional
 * request is evaluated against it (RFC 9110 13.1).
 */
import type { ResponseParser } from '../upstream/response-parser.js';
import { emptyCacheControl, parseCacheControl, parseHttpDate, type CacheControl } from './cache-control.js';
import type { CacheRequest } from './cache-request.js';

/** Statuses a cache may store with heuristic freshness (RFC 9110 15.1). */
const HEURISTIC_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
/** Statuses never stored: 206 (fulcrum does not assemble ranges), 304 (only refreshes), 1xx. */
const NEVER_STORED = new Set([206, 304]);

export interface PolicyOptions {
  heuristicPercent: number;
  heuristicMaxSeconds: number;
}

/** CacheEntry is one stored response (one variant of one URL). */
export interface CacheEntry {
  /** LRU key: primary key plus the values of the Vary fields */
  variantKey: string;
  primaryKey: string;
  status: number;
  statusLine: string;
  /** flat [name, value, ...] relayed to clients: without framing, hop-by-hop, Date and Age */
  headers: (string | Buffer)[];
  body: Buffer;
  /** RFC 9111 4.2.3 inputs, ms since the epoch */
  requestTime: number;
  responseTime: number;
  /** corrected_initial_age, seconds */
  initialAge: number;
  /** freshness lifetime, seconds */
  lifetime: number;
  cc: CacheControl;
  etag: string | null;
  lastModified: string | null;
  /** lowercase names of the Vary fields, sorted */
  varyNames: string[];
  /** a stored response to a request with Authorization, or one that says it may serve them (RFC 9111 3.5) */
  authOk: boolean;
  size: number;
  /** Content-Type, and whether compression may touch the body (no Content-Encoding, Content-Range, no-transform) */
  contentType: string | null;
  compressibleType: boolean;
  /** compressed variants made from body (by the compression pool), per encoding */
  encodings: Map<'br' | 'gzip' | 'deflate', Buffer> | null;
  compressing: Map<'br' | 'gzip' | 'deflate', Promise<Buffer>> | null;
}

/** ResponseFacts are the fields of a response head the cache decides on. */
export interface ResponseFacts {
  cc: CacheControl;
  date: number;
  age: number;
  expires: string | null;
  etag: string | null;
  lastModified: string | null;
  vary: string | null;
  setCookie: boolean;
  hasCacheControl: boolean;
  contentEncoding: boolean;
  contentRange: boolean;
  contentType: string | null;
}

/** responseFacts reads the cache-relevant fields of a parsed response head. */
export function responseFacts(p: ResponseParser): ResponseFacts {
  const f: ResponseFacts = {
    cc: emptyCacheControl(),
    date: NaN,
    age: 0,
    expires: null,
    etag: null,
    lastModified: null,
    vary: null,
    setCookie: false,
    hasCacheControl: false,
    contentEncoding: false,
    contentRange: false,
    contentType: null,
  };
  const h = p.headers;
  for (let i = 0, k = 0; i < h.length; i += 2, k++) {
    const name = (h[i] as string).toLowerCase();
    const value = String(h[i + 1]);
    switch (name) {
      case 'cache-control':
        f.hasCacheControl = true;
        parseCacheControl(value, f.cc);
        break;
      case 'date':
        f.date = parseHttpDate(value);
        break;
      case 'age': {
        const a = /^\d+$/.test(value.trim()) ? Number(value.trim()) : 0;
        f.age = Math.max(f.age, a);
        break;
      }
      case 'expires':
        f.expires = f.expires === null ? value : f.expires;
        break;
      case 'etag':
        f.etag = value;
        break;
      case 'last-modified':
        f.lastModified = value;
        break;
      case 'vary':
        f.vary = f.vary === null ? value : f.vary + ', ' + value;
        break;
      case 'set-cookie':
        f.setCookie = true;
        break;
      case 'content-encoding':
        f.contentEncoding = true;
        break;
      case 'content-range':
        f.contentRange = true;
        break;
      case 'content-type':
        f.contentType = value;
        break;
      case 'pragma':
        // Pragma: no-cache in a response has no defined meaning (RFC 9111 5.4); ignored
        break;
    }
    void k;
  }
  return f;
}

/**
 * notStorableReason returns why a response to a GET may not be stored by a shared cache, or null
 * when it may (RFC 9111 section 3, plus fulcrum's rules: no Set-Cookie, no Vary: *).
 */
export function notStorableReason(status: number, f: ResponseFacts, req: CacheRequest): string | null {
  if (status < 200 || NEVER_STORED.has(status)) return 'status';
  const cc = f.cc;
  if (cc.noStore) return 'no-store';
  if (req.cc?.noStore) return 'request-no-store';
  if (cc.private) return 'private';
  if (f.setCookie) return 'set-cookie';
  if (req.hasAuthorization && !(cc.public || cc.sMaxage >= 0 || cc.mustRevalidate)) return 'authorization';
  if (f.vary?.split(',').some((v) => v.trim() === '*')) return 'vary-star';
  const explicit = cc.sMaxage >= 0 || cc.maxAge >= 0 || f.expires !== null;
  if (!explicit && !cc.public && !cc.noCache && !HEURISTIC_STATUSES.has(status)) return 'no-freshness';
  return null;
}

/** freshnessLifetime returns the freshness lifetime in seconds (RFC 9111 4.2.1 and 4.2.2). */
export function freshnessLifetime(status: number, f: ResponseFacts, responseTime: number, o: PolicyOptions): number {
  const cc = f.cc;
  if (cc.sMaxage >= 0) return cc.sMaxage;
  if (cc.maxAge >= 0) return cc.maxAge;
  const date = Number.isNaN(f.date) ? responseTime : f.date;
  if (f.expires !== null) {
    const exp = parseHttpDate(f.expires);
    // an invalid Expires ("0") means already expired
    return Number.isNaN(exp) ? 0 : Math.max(0, (exp - date) / 1000);
  }
  // heuristic freshness: only without explicit expiry, for heuristically cacheable statuses or
  // "public", and only from Last-Modified (no Last-Modified: no heuristic, as nginx and Varnish)
  if (o.heuristicPercent > 0 && (HEURISTIC_STATUSES.has(status) || cc.public) && f.lastModified !== null) {
    const lm = parseHttpDate(f.lastModified);
    if (!Number.isNaN(lm) && lm < date) return Math.min(o.heuristicMaxSeconds, ((date - lm) / 1000) * (o.heuristicPercent / 100));
  }
  return 0;
}

/** initialAge returns corrected_initial_age in seconds (RFC 9111 4.2.3). */
export function initialAge(f: ResponseFacts, requestTime: number, responseTime: number): number {
  const date = Number.isNaN(f.date) ? responseTime : f.date;
  const apparentAge = Math.max(0, (responseTime - date) / 1000);
  const responseDelay = (responseTime - requestTime) / 1000;
  const correctedAgeValue = f.age + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** currentAge returns the entry's age in seconds now (RFC 9111 4.2.3). */
export function currentAge(e: CacheEntry, now: number): number {
  return e.initialAge + (now - e.responseTime) / 1000;
}

/** Use says how a stored response may answer a request. */
export const enum Use {
  /** fresh: serve it */
  Fresh,
  /** stale but the client accepts it (max-stale): serve it */
  Stale,
  /** stale within stale-while-revalidate: serve it and refresh in the background */
  StaleWhileRevalidate,
  /** must be validated with the server first */
  Revalidate,
  /** the request's directives ask for validation (no-cache, max-age=0 ...) */
  RevalidateRequested,
}

/** mustNotServeStale: must-revalidate, proxy-revalidate and s-maxage forbid stale answers (RFC 9111 5.2.2.2, 5.2.2.8, 5.2.2.10). */
export function mustNotServeStale(e: CacheEntry): boolean {
  return e.cc.mustRevalidate || e.cc.proxyRevalidate || e.cc.sMaxage >= 0 || e.cc.noCache;
}

/** evaluate decides how entry e may answer request r; ttl (seconds, negative when stale) goes to out[0]. */
export function evaluate(e: CacheEntry, r: CacheRequest, now: number, out: number[]): Use {
  const age = currentAge(e, now);
  const ttl = e.lifetime - age;
  out[0] = ttl;
  const rc = r.cc;
  // immutable: while fresh, a client's reload (no-cache, max-age=0) does not reach the server
  const immutableFresh = e.cc.immutable && ttl > 0;
  if (rc !== null && !immutableFresh) {
    if (rc.noCache) return Use.RevalidateRequested;
    if (rc.maxAge >= 0 && age > rc.maxAge) return Use.RevalidateRequested;
    if (rc.minFresh >= 0 && ttl < rc.minFresh) return Use.RevalidateRequested;
  }
  if (e.cc.noCache) return Use.Revalidate;
  if (ttl > 0) return Use.Fresh;
  if (mustNotServeStale(e)) return Use.Revalidate;
  if (rc !== null && rc.maxStale >= 0 && -ttl <= rc.maxStale) return Use.Stale;
  if (e.cc.staleWhileRevalidate >= 0 && -ttl <= e.cc.staleWhileRevalidate) return Use.StaleWhileRevalidate;
  return Use.Revalidate;
}

/** staleIfErrorAllowed: may a stale e answer r when the server fails (RFC 5861 section 4)? */
export function staleIfErrorAllowed(e: CacheEntry, r: CacheRequest, now: number): boolean {
  if (mustNotServeStale(e)) return false;
  const stale = currentAge(e, now) - e.lifetime;
  const window = Math.max(e.cc.staleIfError, r.cc?.staleIfError ?? -1);
  return window >= 0 && stale <= window;
}

/** STALE_IF_ERROR_STATUSES are the server answers treated as errors by stale-if-error. */
export const STALE_IF_ERROR_STATUSES = new Set([500, 502, 503, 504]);

/**
 * notModified evaluates the client's If-None-Match / If-Modified-Since against a stored response
 * (RFC 9110 13.1.2 weak comparison, 13.1.3; If-Modified-Since is ignored when If-None-Match is present).
 */
export function notModified(e: CacheEntry, r: CacheRequest): boolean {
  const inm = r.get('if-none-match');
  if (inm !== undefined) {
    if (e.etag === null) return false;
    if (inm.trim() === '*') return true;
    const mine = weak(e.etag);
    for (const t of inm.split(',')) if (weak(t.trim()) === mine) return true;
    return false;
  }
  const ims = r.get('if-modified-since');
  if (ims !== undefined && e.lastModified !== null) {
    const since = parseHttpDate(ims);
    const lm = parseHttpDate(e.lastModified);
    return !Number.isNaN(since) && !Number.isNaN(lm) && lm <= since;
  }
  return false;
}

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** varyNames returns the sorted, lowercase field names of a Vary value. */
export function parseVary(v: string | null): string[] {
  if (v === null) return [];
  const names = new Set<string>();
  for (const t of v.split(',')) {
    const n = t.trim().toLowerCase();
    if (n) names.add(n);
  }
  return [...names].sort();
}
