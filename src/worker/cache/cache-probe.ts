/**
 * What a worker's response cache holds for one request, for GET /explain (the primary asks one
 * worker: StateSections.cacheProbe). It reads the store as a request would (CacheRequest, the
 * Vary'd variant key, evaluate() of RFC 9111 4.2) and changes nothing: CacheStore.peek leaves
 * the LRU order as it was, and no counter moves.
 */
import type { CacheProbe, CacheProbeAnswer } from '../../ipc.js';
import { NullExchange } from '../engine/null-exchange.js';
import type { ClientPeer } from '../engine/exchange.js';
import { CacheRequest } from './cache-request.js';
import { pendingFill } from './coalesce.js';
import { currentAge, evaluate, Use } from './policy.js';
import type { CacheStore } from './store.js';

const USE_NAMES: Record<Use, string> = {
  [Use.Fresh]: 'fresh',
  [Use.Stale]: 'stale',
  [Use.StaleWhileRevalidate]: 'stale-while-revalidate',
  [Use.Revalidate]: 'revalidate',
  [Use.RevalidateRequested]: 'revalidate-requested',
};

/** the cache key does not read the client address */
const NO_PEER: ClientPeer = { bytes: new Uint8Array(4), ip: '0.0.0.0', gen: -1, trusted: false, allowed: true, busy: -1 };

/** probeCache answers a probe from `store` (null: the worker runs no generation yet). */
export function probeCache(store: CacheStore | null, p: CacheProbe, worker: number): CacheProbeAnswer {
  const r = new CacheRequest(new NullExchange({ method: p.method, target: p.target, secure: p.secure, fields: p.fields, peer: NO_PEER }));
  const out: CacheProbeAnswer = {
    id: p.id,
    worker,
    varyNames: null,
    stored: false,
    use: '',
    ageSeconds: 0,
    ttlSeconds: 0,
    status: 0,
    bytes: 0,
    authOk: false,
    filling: pendingFill(r.key) !== undefined,
  };
  if (store === null) return out;
  out.varyNames = (store.varyNamesOf(r) as string[] | undefined) ?? null;
  const e = store.peek(r);
  if (e === undefined) return out;
  const now = Date.now();
  const ttl = [0];
  out.stored = true;
  out.use = USE_NAMES[evaluate(e, r, now, ttl)];
  out.ageSeconds = currentAge(e, now);
  out.ttlSeconds = ttl[0]!;
  out.status = e.status;
  out.bytes = e.size;
  out.authOk = e.authOk;
  return out;
}
