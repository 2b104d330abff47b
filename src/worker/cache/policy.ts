/**
 * The RFC 9111 rules of a shared cache, as pure functions over parsed responses and requests:
 * what a response head says (the fields read by their recipient rules: Age 5.1, Expires 5.3,
 * HTTP dates RFC 9110 5.6.7, targeted fields RFC 9213), whether a response may be stored
 * (section 3) and which of its fields (3.1: no hop-by-hop fields), how long it is fresh (4.2.1,
 * heuristics in 4.2.2), its age (4.2.3), how a 304 updates it (4.3.4), whether a stored response
 * may answer a request (4.2, 4.2.4, 5.2.1, RFC 5861's stale-while-revalidate and
 * stale-if-error), and how a client's own conditional request is evaluated against it
 * (RFC 9110 13.1).
 */
import type { Alg } from '../compress/negotiate.js';
import { HeaderKind, type ResponseParser } from '../upstream/response-parser.js';
import { emptyCacheControl, parseCacheControl, type CacheControl } from './cache-control.js';
import type { CacheRequest } from './cache-request.js';
import { parseHttpDate } from './http-date.js';
import { parseTargeted } from './targeted.js';

/** Statuses a cache may store with heuristic freshness (RFC 9110 15.1). */
const HEURISTIC_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
/** Statuses never stored: 206 (fulcrum does not assemble ranges), 304 (only refreshes), 1xx. */
const NEVER_STORED = new Set([206, 304]);

export interface PolicyOptions {
  heuristicPercent: number;
  heuristicMaxSeconds: number;
  /** the targeted fields obeyed (RFC 9213 target list), lowercase, most applicable first */
  targets: readonly string[];
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
  /** the directives in force: a targeted field's (RFC 9213), or Cache-Control's */
  cc: CacheControl;
  /** cc came from a targeted field: a 304 without one leaves it in force (the stored field stands) */
  targeted: boolean;
  etag: string | null;
  /** a valid HTTP-date, or null */
  lastModified: string | null;
  /** lowercase names of the Vary fields, sorted */
  varyNames: string[];
  /** a stored response to a request with Authorization, or one that says it may serve them (RFC 9111 3.5) */
  authOk: boolean;
  size: number;
  /** Content-Type, and whether compression may touch the body (no Content-Encoding, Content-Range, no-transform) */
  contentType: string | null;
  compressibleType: boolean;
  /** compressed variants of body, per encoding: made by the compression pool, or by the streamed miss */
  encodings: Map<Alg, Buffer> | null;
  compressing: Map<Alg, Promise<Buffer>> | null;
}

/** ResponseFacts are the fields of a response head the cache decides on, read by their recipient rules. */
export interface ResponseFacts {
  /** the directives in force: the first valid targeted field's (RFC 9213), else Cache-Control's */
  cc: CacheControl;
  /** cc came from a targeted field (Cache-Control and Expires are then ignored) */
  targeted: boolean;
  /** Cache-Control (or the targeted field) says no-transform: compression must not touch the body */
  noTransform: boolean;
  /** Date in ms; NaN when absent or invalid (treated as absent: the response time stands in) */
  date: number;
  /** Age in seconds (RFC 9111 5.1); 0 when absent or invalid */
  age: number;
  /** Expires in ms; null when absent (or ignored), NaN when invalid: already expired (RFC 9111 5.3) */
  expires: number | null;
  etag: string | null;
  /** Last-Modified when it is a valid HTTP-date (else null: no heuristic, no validator) */
  lastModified: string | null;
  lastModifiedMs: number;
  vary: string | null;
  setCookie: boolean;
  contentEncoding: boolean;
  contentRange: boolean;
  contentType: string | null;
}

/**
 * responseFacts reads the cache-relevant fields of a response head (flat [name, value, ...], as
 * received or as stored), by the rules a recipient applies to each:
 *   - Date, Expires, Last-Modified: one strict HTTP-date (http-date.ts, RFC 9110 5.6.7); they are
 *     singleton fields, so two field lines make the value invalid (RFC 9110 5.3). An invalid
 *     Expires means already expired (RFC 9111 5.3); an invalid Date or Last-Modified counts as absent.
 *   - Age (RFC 9111 5.1): a list-based value counts by its first member only, the others (later
 *     members, later field lines) discarded; a first member that is not a non-negative integer
 *     (7200.0, -1, 10s) makes the cache ignore the field.
 *   - targets (RFC 9213 2.1): the first field of the target list with a valid, non-empty value
 *     replaces Cache-Control and Expires.
 */
export function responseFacts(h: readonly (string | Buffer)[], targets: readonly string[]): ResponseFacts {
  const f: ResponseFacts = {
    cc: emptyCacheControl(),
    targeted: false,
    noTransform: false,
    date: NaN,
    age: 0,
    expires: null,
    etag: null,
    lastModified: null,
    lastModifiedMs: NaN,
    vary: null,
    setCookie: false,
    contentEncoding: false,
    contentRange: false,
    contentType: null,
  };
  let dates = 0;
  let expires = 0;
  let lastModified = 0;
  let ageRead = false;
  let targeted: (string | undefined)[] | null = null;
  for (let i = 0; i < h.length; i += 2) {
    const name = (h[i] as string).toLowerCase();
    const value = String(h[i + 1]);
    switch (name) {
      case 'cache-control':
        parseCacheControl(value, f.cc);
        break;
      case 'date':
        f.date = dates++ === 0 ? parseHttpDate(value) : NaN;
        break;
      case 'age':
        if (!ageRead) {
          const member = firstMember(value);
          if (member !== null) {
            ageRead = true;
            f.age = deltaSeconds(member);
          }
        }
        break;
      case 'expires':
        f.expires = expires++ === 0 ? parseHttpDate(value) : NaN;
        break;
      case 'etag':
        f.etag = value;
        break;
      case 'last-modified':
        f.lastModified = value;
        lastModified++;
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
      default:
        if (targets.length !== 0) {
          const t = targets.indexOf(name);
          if (t !== -1) {
            targeted ??= new Array<string | undefined>(targets.length);
            const prev = targeted[t];
            // several field lines of a Structured Field are one value joined with ", " (RFC 9651 4.2)
            targeted[t] = prev === undefined ? value : prev + ', ' + value;
          }
        }
    }
  }
  f.noTransform = f.cc.noTransform;
  if (lastModified === 1) f.lastModifiedMs = parseHttpDate(f.lastModified);
  if (Number.isNaN(f.lastModifiedMs)) f.lastModified = null;
  if (targeted !== null) {
    for (const v of targeted) {
      const cc = v === undefined ? null : parseTargeted(v);
      if (cc === null) continue; // absent, empty or invalid: the next one, or Cache-Control
      f.cc = cc;
      f.targeted = true;
      f.noTransform ||= cc.noTransform;
      f.expires = null;
      break;
    }
  }
  return f;
}

/** firstMember returns the first non-empty member of a list-based field value, or null. */
function firstMember(v: string): string | null {
  let start = 0;
  for (;;) {
    const comma = v.indexOf(',', start);
    const m = v.slice(start, comma === -1 ? v.length : comma).trim();
    if (m !== '') return m;
    if (comma === -1) return null;
    start = comma + 1;
  }
}

/** deltaSeconds reads delta-seconds (RFC 9111 1.2.2, capped at 2^31); 0 when invalid (the field is ignored). */
function deltaSeconds(v: string): number {
  if (!/^\d+$/.test(v)) return 0;
  return Math.min(Number(v), 2147483648);
}

/** FieldFilter is the response policy's strip list (responses.stripHeaders and the targeted fields consumed). */
interface FieldFilter {
  strips(name: string): boolean;
}

/** Fields never stored: Age is recomputed on every use (RFC 9111 4.2.3, 5.1). */
const NOT_STORED = new Set(['age']);
/**
 * Fields of a 304 that never update the stored response (RFC 9111 4.3.4): those describing the
 * 304's own (absent) content, and Set-Cookie, which belongs to the client that triggered it.
 */
const NOT_UPDATED = new Set(['age', 'set-cookie', 'content-length', 'content-encoding', 'content-range']);

/**
 * storedFields returns the fields of a response head to keep with a stored response (or, with
 * forUpdate, to apply from a 304): never the hop-by-hop and framing fields (Connection, the fields
 * it names, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*: RFC 9111 3.1, RFC 9110
 * 7.6.1), nor Content-Length (the stored body's own length is sent), nor Date (uWS writes its own:
 * the stored Date is not kept yet), nor what the response policy strips.
 */
export function storedFields(p: ResponseParser, policy: FieldFilter, forUpdate: boolean): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  const h = p.headers;
  const drop = p.connectionTokens;
  const skip = forUpdate ? NOT_UPDATED : NOT_STORED;
  let date = false;
  for (let i = 0, k = 0; i < h.length; i += 2, k++) {
    if (p.kinds[k] !== HeaderKind.Other) {
      // the response's own Date is stored and served with every hit, its age in Age (RFC 9110
      // 6.6.1, RFC 9111 4); a 304's Date replaces it (4.3.4)
      if (p.kinds[k] === HeaderKind.Date && !date) {
        date = true;
        out.push(h[i]!, h[i + 1]!);
      }
      continue;
    }
    const name = (h[i] as string).toLowerCase();
    if (skip.has(name) || drop?.includes(name) || policy.strips(name)) continue;
    out.push(h[i]!, h[i + 1]!);
  }
  // a response without a Date gets the time it was received (RFC 9110 6.6.1), not the hit's time
  if (!date && !forUpdate) out.push('Date', new Date().toUTCString());
  return out;
}

/** updatedFields applies a 304's fields to the stored ones: each field it carries replaces the stored lines of that name (RFC 9111 4.3.4). */
export function updatedFields(stored: readonly (string | Buffer)[], update: readonly (string | Buffer)[]): (string | Buffer)[] {
  const names = new Set<string>();
  for (let i = 0; i < update.length; i += 2) names.add((update[i] as string).toLowerCase());
  const out: (string | Buffer)[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!names.has((stored[i] as string).toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  for (const x of update) out.push(x);
  return out;
}

/**
 * refreshedFacts are the freshness inputs of a stored response after a 304 (RFC 9111 4.3.4): its
 * fields as updated, with the 304's Date and Age. A targeted field decides as on a fresh response:
 * the 304's own if it has a valid one, else the stored response's (stripped from the stored
 * fields when fulcrum does not forward it, so remembered in e.cc).
 */
export function refreshedFacts(e: CacheEntry, f304: ResponseFacts, merged: readonly (string | Buffer)[], targets: readonly string[]): ResponseFacts {
  const fm = responseFacts(merged, targets);
  fm.date = f304.date;
  fm.age = f304.age;
  if (!fm.targeted && (f304.targeted || e.targeted)) {
    fm.cc = f304.targeted ? f304.cc : e.cc;
    fm.targeted = true;
    fm.expires = null;
  }
  return fm;
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
  if (varyStar(parseVary(f.vary))) return 'vary-star';
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
    // an invalid Expires ("0", "UTC" for "GMT", two field lines ...) means already expired (RFC 9111 5.3)
    return Number.isNaN(f.expires) ? 0 : Math.max(0, (f.expires - date) / 1000);
  }
  // heuristic freshness: only without explicit expiry, for heuristically cacheable statuses or
  // "public", and only from Last-Modified (no Last-Modified: no heuristic, as nginx and Varnish)
  if (o.heuristicPercent > 0 && (HEURISTIC_STATUSES.has(status) || cc.public) && f.lastModified !== null) {
    const lm = f.lastModifiedMs;
    if (lm < date) return Math.min(o.heuristicMaxSeconds, ((date - lm) / 1000) * (o.heuristicPercent / 100));
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
 * (RFC 9110 13.1.2 weak comparison, 13.1.3). If-Modified-Since is ignored when If-None-Match is
 * present, and when it is not one valid HTTP-date (an invalid date, or several members: two
 * field lines are joined into one value, which does not parse).
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

/** parseVary returns the sorted, lowercase field names of a Vary value ("*" included). */
export function parseVary(v: string | null): string[] {
  if (v === null) return [];
  const names = new Set<string>();
  for (const t of v.split(',')) {
    const n = t.trim().toLowerCase();
    if (n) names.add(n);
  }
  return [...names].sort();
}

/** varyStar: a Vary of "*" makes a stored response match no request (RFC 9111 4.1): never served from the store. */
export function varyStar(varyNames: readonly string[]): boolean {
  return varyNames.length !== 0 && varyNames.includes('*');
}
