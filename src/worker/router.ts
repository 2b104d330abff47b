/**
 * Router maps (Host, path) to a route, compiled once per config.
 *
 * Rule (documented in README "Routing"): hosts are tried from most to least specific (exact name,
 * then wildcards with the longest suffix first, then "*"); within the first host class that has a
 * matching path prefix, the longest prefix wins. Host matching is case-insensitive, ignores the
 * port and a trailing dot. Paths are matched in their normalised form (see normalizePath) while
 * the request is forwarded with the path exactly as received.
 */
export interface RouteTarget {
  /** index in config.routes, for metrics */
  index: number;
  /** the route's name (routes[].name, default host + pathPrefix), for the access log */
  name: string;
  host: string;
  pathPrefix: string;
  upstream: string;
  /** retry non-idempotent requests after errors too (route opt-in) */
  retryUnsafe?: boolean;
}

interface PrefixTable<T> {
  /** sorted longest prefix first */
  entries: { prefix: string; target: T }[];
}

export class Router<T extends RouteTarget = RouteTarget> {
  private readonly exact = new Map<string, PrefixTable<T>>();
  /** wildcard suffix (".example.com") -> table, longest suffix first */
  private readonly wildcards: { suffix: string; table: PrefixTable<T> }[] = [];
  private anyHost: PrefixTable<T> | undefined;

  constructor(targets: T[]) {
    const add = (table: PrefixTable<T>, t: T) => {
      table.entries.push({ prefix: t.pathPrefix, target: t });
      table.entries.sort((a, b) => b.prefix.length - a.prefix.length);
    };
    for (const t of targets) {
      const h = t.host.toLowerCase().replace(/\.$/, '');
      if (h === '*') {
        this.anyHost ??= { entries: [] };
        add(this.anyHost, t);
      } else if (h.startsWith('*.')) {
        const suffix = h.slice(1);
        let w = this.wildcards.find((x) => x.suffix === suffix);
        if (!w) {
          w = { suffix, table: { entries: [] } };
          this.wildcards.push(w);
          this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
        }
        add(w.table, t);
      } else {
        let table = this.exact.get(h);
        if (!table) this.exact.set(h, (table = { entries: [] }));
        add(table, t);
      }
    }
  }

  /** match returns the route for a raw Host header value and a normalised path, or undefined (404). */
  match(hostHeader: string, path: string): T | undefined {
    const host = hostOnly(hostHeader);
    if (this.exact.size) {
      const table = this.exact.get(host);
      if (table) {
        const t = matchPrefix(table, path);
        if (t) return t;
      }
    }
    for (const w of this.wildcards) {
      // "*.example.com" matches "a.example.com" and "a.b.example.com", not "example.com"
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) {
        const t = matchPrefix(w.table, path);
        if (t) return t;
      }
    }
    return this.anyHost ? matchPrefix(this.anyHost, path) : undefined;
  }

  /**
   * trace lists the routes of every host class that `hostHeader` belongs to, in the order match()
   * tries them (exact, wildcards longest suffix first, "*"; longest prefix first within each), with
   * whether the prefix matches: match()'s answer is the first that does. For `fulcrum explain`,
   * which checks that against match() itself; allocates, never on the request path.
   */
  trace(hostHeader: string, path: string): RouteCandidate<T>[] {
    const host = hostOnly(hostHeader);
    const out: RouteCandidate<T>[] = [];
    const add = (hostClass: RouteCandidate<T>['hostClass'], pattern: string, table: PrefixTable<T>) => {
      for (const e of table.entries) out.push({ hostClass, pattern, prefix: e.prefix, prefixMatches: path.startsWith(e.prefix), target: e.target });
    };
    const exact = this.exact.get(host);
    if (exact) add('exact', host, exact);
    for (const w of this.wildcards) if (host.length > w.suffix.length && host.endsWith(w.suffix)) add('wildcard', '*' + w.suffix, w.table);
    if (this.anyHost) add('any', '*', this.anyHost);
    return out;
  }
}

/** A route that trace() compared, in the order match() compares them. */
export interface RouteCandidate<T> {
  /** the host class: an exact name, a wildcard, or "*" */
  hostClass: 'exact' | 'wildcard' | 'any';
  /** the class's host as compiled: "shop.example.com", "*.example.com", "*" */
  pattern: string;
  prefix: string;
  /** the path starts with the prefix */
  prefixMatches: boolean;
  target: T;
}

function matchPrefix<T>(table: PrefixTable<T>, path: string): T | undefined {
  for (const e of table.entries) if (path.startsWith(e.prefix)) return e.target;
  return undefined;
}

/** hostOnly lowercases a Host header value and strips the port and a trailing dot. */
export function hostOnly(h: string): string {
  let end = h.length;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const close = h.indexOf(']');
    end = close === -1 ? h.length : close + 1;
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && h.charCodeAt(end - 1) === 46 /* . */) end--;
  const s = end === h.length ? h : h.slice(0, end);
  return hasUpper(s) ? s.toLowerCase() : s;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/** routePath returns the path a request target is routed by: without the query, normalised (normalizePath). */
export function routePath(target: string): string {
  const q = target.indexOf('?');
  return normalizePath(q === -1 ? target : target.slice(0, q));
}

/**
 * normalizePath returns the form of a request path used for routing (and so for route access
 * lists and rate limits). It reads the path the way the most permissive of the servers behind may
 * read it, so that a rule on a prefix covers every spelling one of them resolves into that prefix
 * (README "Routing" says why, and what nginx, HAProxy and Envoy do):
 *
 * - percent-encoded unreserved characters decoded (%2E -> "."), RFC 3986 6.2.2.2;
 * - "\\", %5C and %2F count as "/" (WHATWG URLs, IIS and Envoy's canonicaliser read "\\" as "/";
 *   nginx decodes %2F before it resolves dot segments);
 * - ";" path parameters are dropped from every segment (RFC 3986 3.3: Tomcat, Jetty and Spring
 *   drop them before resolving dot segments, so "/public/..;/admin" is their "/admin");
 * - dot segments resolved, repeated slashes merged.
 *
 * Other reserved characters stay encoded. Paths without "%", ";", "\\", "/." or "//" (nearly all)
 * are returned as they are, without allocating.
 */
export function normalizePath(p: string): string {
  if (!NEEDS_NORMALISING.test(p)) return p;
  const decoded = p.replace(PERCENT, decodeForMatch).replace(BACKSLASH, '/');
  const out: string[] = [];
  const segs = decoded.split('/');
  for (let i = 1; i < segs.length; i++) {
    let s = segs[i]!;
    const semi = s.indexOf(';');
    if (semi !== -1) s = s.slice(0, semi);
    const last = i === segs.length - 1;
    if (s === '' && !last) continue; // "//" merged
    if (s === '.') {
      if (last) out.push('');
      continue;
    }
    if (s === '..') {
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

/** a character normalizePath would change: one regex test (faster than the indexOf calls it replaced) */
const NEEDS_NORMALISING = /[%;\\]|\/[./]/;
const PERCENT = /%([0-9a-fA-F]{2})/g;
const BACKSLASH = /\\/g;

function decodeForMatch(m: string, hex: string): string {
  const c = parseInt(hex, 16);
  if (c === 0x2f || c === 0x5c) return '/';
  const unreserved = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
  return unreserved ? String.fromCharCode(c) : m;
}
