/**
 * Config schema of "cache" and a route's "cache" overrides: the RFC 9111 shared cache, one per worker,
 * with RFC 9213 targeted cache-control fields and heuristic freshness (RFC 9111 4.2.2).
 */
import { Type } from '@sinclair/typebox';
import { Ms, strict } from './common.js';

const CACHE_POLICY_KEYS = {
  lockTimeoutMs: Ms(
    'Request coalescing: concurrent misses for one URL wait this long for the first one to fill the cache, then go to the server on their own (default 5000).',
    5000,
    0,
  ),
  heuristicPercent: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 10,
    description:
      'Heuristic freshness (RFC 9111 4.2.2) for responses without explicit expiry but with Last-Modified: this percent of the time since Last-Modified (default 10; 0 disables heuristics).',
  }),
  heuristicMaxSeconds: Type.Integer({
    minimum: 0,
    maximum: 31536000,
    default: 86400,
    description: 'Upper bound of a heuristic freshness lifetime, in seconds (default 86400).',
  }),
};

export const CacheRouteSchema = strict(
  {
    lockTimeoutMs: Type.Optional(CACHE_POLICY_KEYS.lockTimeoutMs),
    heuristicPercent: Type.Optional(CACHE_POLICY_KEYS.heuristicPercent),
    heuristicMaxSeconds: Type.Optional(CACHE_POLICY_KEYS.heuristicMaxSeconds),
  },
  { description: 'Per-route cache settings; keys left out come from the "cache" section.' },
);

export const CacheSchema = strict(
  {
    maxBytes: Type.Integer({
      minimum: 0,
      maximum: 68719476736,
      default: 268435456,
      description:
        'Most bytes of responses (bodies and headers) each worker keeps in its cache (default 268435456, 256 MiB); least recently used entries are evicted first.',
    }),
    maxObjectBytes: Type.Integer({
      minimum: 0,
      maximum: 4294967296,
      default: 8388608,
      description: 'Largest response body stored (default 8388608, 8 MiB). Larger responses stream through uncached and are never buffered whole.',
    }),
    targetedFields: Type.Array(Type.String({ minLength: 1, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), {
      uniqueItems: true,
      default: ['CDN-Cache-Control'],
      description:
        'Targeted cache-control fields fulcrum obeys (RFC 9213), most applicable first (default ["CDN-Cache-Control"]), e.g. ["Fulcrum-Cache-Control", "CDN-Cache-Control"]. The first one present with a valid value decides the caching of a response instead of Cache-Control and Expires; [] obeys Cache-Control only.',
    }),
    forwardTargetedFields: Type.Boolean({
      default: false,
      description:
        'Pass the targetedFields on to clients (default false: when a route caches, they are removed from every response, relayed or served from the cache, as they are meant for fulcrum; set true when a CDN in front of fulcrum reads them too).',
    }),
    ...CACHE_POLICY_KEYS,
  },
  { description: 'Response cache (RFC 9111 shared cache), one per worker; routes turn it on with "cache": true.', default: {} },
);
