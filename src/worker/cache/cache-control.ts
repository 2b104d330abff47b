/**
 * Cache-Control parsing (RFC 9111 section 5.2) for requests and responses. Parsed once per stored
 * response or per cached-route request, never per hit of a stored entry. (HTTP dates: http-date.ts;
 * the targeted fields such as CDN-Cache-Control, a Structured Field syntax: targeted.ts.)
 */

/** CacheControl holds the directives fulcrum acts on; numbers are seconds, -1 when absent. */
export interface CacheControl {
  maxAge: number;
  sMaxage: number;
  noStore: boolean;
  /** no-cache (response: qualified or not, both treated as unqualified, the safe reading) */
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  immutable: boolean;
  noTransform: boolean;
  staleWhileRevalidate: number;
  staleIfError: number;
  /** request: max-stale (Infinity without a value) */
  maxStale: number;
  /** request: min-fresh */
  minFresh: number;
  onlyIfCached: boolean;
}

export function emptyCacheControl(): CacheControl {
  return {
    maxAge: -1,
    sMaxage: -1,
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    immutable: false,
    noTransform: false,
    staleWhileRevalidate: -1,
    staleIfError: -1,
    maxStale: -1,
    minFresh: -1,
    onlyIfCached: false,
  };
}

/**
 * deltaSeconds parses a delta-seconds argument (RFC 9111 1.2.2). Invalid values give -2, which
 * callers treat as "present but unusable" (a max-age that cannot be read makes the response stale).
 */
function deltaSeconds(v: string | null): number {
  if (v === null || !/^\d+$/.test(v)) return -2;
  const n = Number(v);
  return Math.min(n, 2147483648);
}

/** parseCacheControl merges every Cache-Control field line given (comma-joined) into cc. */
export function parseCacheControl(value: string, cc: CacheControl = emptyCacheControl()): CacheControl {
  let i = 0;
  const n = value.length;
  while (i < n) {
    // name
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === ',')) i++;
    let j = i;
    while (j < n && value[j] !== '=' && value[j] !== ',') j++;
    const name = value.slice(i, j).trim().toLowerCase();
    let arg: string | null = null;
    if (j < n && value[j] === '=') {
      j++;
      while (j < n && (value[j] === ' ' || value[j] === '\t')) j++;
      if (value[j] === '"') {
        const close = value.indexOf('"', j + 1);
        const end = close === -1 ? n : close;
        arg = value.slice(j + 1, end);
        j = end + 1;
        while (j < n && value[j] !== ',') j++;
      } else {
        const k = value.indexOf(',', j);
        const end = k === -1 ? n : k;
        arg = value.slice(j, end).trim();
        j = end;
      }
    }
    i = j + 1;
    switch (name) {
      case 'max-age':
        cc.maxAge = deltaSeconds(arg);
        if (cc.maxAge === -2) cc.maxAge = 0;
        break;
      case 's-maxage':
        cc.sMaxage = deltaSeconds(arg);
        if (cc.sMaxage === -2) cc.sMaxage = 0;
        break;
      case 'no-store':
        cc.noStore = true;
        break;
      case 'no-cache':
        cc.noCache = true;
        break;
      case 'private':
        cc.private = true;
        break;
      case 'public':
        cc.public = true;
        break;
      case 'must-revalidate':
        cc.mustRevalidate = true;
        break;
      case 'proxy-revalidate':
        cc.proxyRevalidate = true;
        break;
      case 'immutable':
        cc.immutable = true;
        break;
      case 'no-transform':
        cc.noTransform = true;
        break;
      case 'stale-while-revalidate':
        cc.staleWhileRevalidate = Math.max(-1, deltaSeconds(arg));
        break;
      case 'stale-if-error':
        cc.staleIfError = Math.max(-1, deltaSeconds(arg));
        break;
      case 'max-stale':
        cc.maxStale = arg === null ? Infinity : Math.max(-1, deltaSeconds(arg));
        break;
      case 'min-fresh':
        cc.minFresh = Math.max(-1, deltaSeconds(arg));
        break;
      case 'only-if-cached':
        cc.onlyIfCached = true;
        break;
    }
  }
  return cc;
}
