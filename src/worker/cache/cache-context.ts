/**
 * What the response cache keeps per request (CacheCtx) and reads of its config generation
 * (CacheSettings), shared by the parts of the cache: deciding (response-cache.ts), coalescing
 * (coalesce.ts), answering from the store (serve-hit.ts) and filling it (fill-tap.ts).
 */
import type { CacheConfig, Config, RouteConfig } from '../../config/schema.js';
import type { CompressSettings } from '../compress/compress-tap.js';
import type { Alg, CompressPolicy } from '../compress/negotiate.js';
import type { ClientExchange, ClientHandler } from '../engine/exchange.js';
import type { ProxySettings } from '../proxy/response-writer.js';
import type { RouteTarget } from '../router.js';
import type { Upstream } from '../upstream/upstream.js';
import type { CacheRequest } from './cache-request.js';
import type { PolicyOptions } from './policy.js';
import type { CacheStore } from './store.js';
import { targetList } from './targeted.js';

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

/** What the cache uses of a config generation (the worker's runtime has it all). */
export interface CacheSettings extends ProxySettings, CompressSettings {
  readonly store: CacheStore;
}

/** Counters reported to the primary. */
export const cacheStats = { hits: 0, misses: 0, stored: 0, revalidated: 0, staleServed: 0, coalesced: 0, purged: 0 };

/** scratch for evaluate()'s time to live */
export const ttlOut = [0];

/**
 * CacheCtx is one client request on a cached route. It is its exchange's handler while the cache
 * holds the request itself (waiting for a coalesced fill, or for a compression), to hear that
 * the client left.
 */
export class CacheCtx implements ClientHandler {
  aborted = false;
  /**
   * The cache answers this request from the store with no request of its own to a server (a hit,
   * or a waiter of a coalesced fill), so the answer writes its access log line; a fill's answer
   * is logged by its ProxyRequest.
   */
  logsAnswer = false;

  constructor(
    readonly ex: ClientExchange,
    public creq: CacheRequest,
    readonly policy: RoutePolicy,
    readonly route: RouteTarget,
    readonly upstream: Upstream,
    readonly settings: CacheSettings,
    /** the route's compression, and the encoding this client gets (null: identity) */
    readonly compress: CompressPolicy | null,
    readonly alg: Alg | null,
  ) {}

  /** hold makes the cache the exchange's handler while it keeps the client waiting. */
  hold(): void {
    this.ex.handler = this;
  }

  onClientAborted(): void {
    this.aborted = true;
  }

  onClientWritable(): void {}
  onClientBody(): void {}
}
