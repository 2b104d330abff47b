/**
 * The worker's runtime: everything built from one config (one generation), as one object. Start
 * and reload build it with the same function, completely (routes, upstreams and their pools,
 * access lists, limits, rate scopes, the cache store, compression, the response policy, the
 * access log, the HTTPS listener with its certificates) and only then swap it in, in one
 * assignment (commitRuntime). A build that fails, or one the primary discards, closes what it
 * opened and leaves the running generation untouched: a reload takes effect whole or not at all
 * (nginx's promise; see ConfigMsg in src/ipc.ts for the two-phase exchange with the primary).
 *
 * Requests in flight keep the generation they started with (they hold their settings); state that
 * must outlive a reload is carried over from the previous runtime where its config did not change:
 * servers with their live counters and pools (Upstream), the cache store and its entries (same
 * sizes), the compression pool (same size), the access log (same target and format).
 */
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { ConfigMsg } from '../ipc.js';
import { setLogLevel } from '../log.js';
import { CidrSet } from '../net/cidr.js';
import { routePolicy, type CacheSettings, type RoutePolicy } from './cache/cache-context.js';
import { buildCacheStore } from './cache/response-cache.js';
import { strippedTargetedFields } from './cache/targeted.js';
import type { CacheStore } from './cache/store.js';
import { buildCompressor, closePool, type Compressor } from './compress/compressor.js';
import { compressionPolicy, type CompressPolicy } from './compress/negotiate.js';
import { AccessList } from './guard/access-list.js';
import type { EdgeLimits } from './guard/limits.js';
import { compileRateScope, type RateScope } from './guard/rate-limiter.js';
import { ResponsePolicy } from './guard/response-policy.js';
import { openAccessLog, type AccessLog } from './obs/access-log.js';
import { Router, type RouteTarget } from './router.js';
import { attachUpstreams } from './upstream/shared-state.js';
import { Upstream } from './upstream/upstream.js';

/** A listener a generation owns (the HTTPS one: reopened on every reload so certificates are read again). */
export interface GenerationListener {
  /** close stops accepting at once (a discarded generation) */
  close(): void;
  /** retire closes after what is queued was accepted (a replaced generation) */
  retire(): void;
  /** resolves with null once listening, or with why it cannot (absent: listening when returned) */
  readonly opened?: Promise<string | null>;
  /** the generation was committed: its certificates take effect (absent: they did when opened) */
  activate?(): void;
}

/** ListenerOpener opens the HTTPS listener of a `tls` section (the engine's); a string says why it cannot. */
export type ListenerOpener = (host: string, tls: NonNullable<Config['tls']>) => GenerationListener | string;

/** What a route resolves to in one generation, by route index. */
export interface RouteRuntime {
  readonly target: RouteTarget;
  readonly upstream: Upstream;
  /** the route's allow/deny list, or null */
  readonly access: AccessList | null;
  /** the route's rate limit (its own, the global one, or null) */
  readonly rate: RateScope | null;
  /** cache settings, null where the route does not cache */
  readonly cache: RoutePolicy | null;
  /** compression settings, null where the route does not compress */
  readonly compress: CompressPolicy | null;
}

/**
 * Routing is the part of a generation that decides what happens to a request before it is
 * forwarded: the router and each route's settings, the upstreams with their servers and policies,
 * the edge lists and limits. buildRouting makes it for a worker's runtime and for
 * `fulcrum explain` (src/explain/), so that both decide with the same objects.
 */
export interface Routing {
  readonly cfg: LoadedConfig;
  /** worker processes sharing the limits */
  readonly workers: number;
  readonly router: Router;
  readonly routes: readonly RouteRuntime[];
  readonly upstreams: Map<string, Upstream>;
  readonly trusted: CidrSet;
  /** global allow/deny lists (null: everyone) */
  readonly access: AccessList | null;
  readonly limits: EdgeLimits;
}

export interface Runtime extends Routing, CacheSettings {
  readonly generation: number;
  readonly cfg: LoadedConfig;
  readonly limits: EdgeLimits;
  readonly responses: ResponsePolicy;
  readonly store: CacheStore;
  readonly compressor: Compressor;
  readonly accessLog: AccessLog | null;
  /** the HTTPS listener (null: no tls section) */
  readonly tls: GenerationListener | null;
}

/**
 * buildRouting builds the routing of a config (routes, upstreams with their pools, access lists,
 * limits, rate scopes, cache and compression settings); `prev` carries servers over (Upstream).
 * It opens nothing: pools connect on their first request.
 */
export function buildRouting(cfg: LoadedConfig, prev: Routing | null): Routing {
  const raw = cfg.raw;
  const upstreams = new Map<string, Upstream>();
  for (const spec of Object.values(cfg.upstreams)) upstreams.set(spec.name, new Upstream(spec, cfg, prev?.upstreams.get(spec.name)));
  const globalRate = raw.rateLimit ? compileRateScope(raw.rateLimit, 'g:', cfg.workers) : null;
  const routes: RouteRuntime[] = raw.routes.map((r, index) => {
    const upstream = upstreams.get(r.upstream);
    if (upstream === undefined) throw new Error(`route ${index} names upstream "${r.upstream}", which does not exist`);
    return {
      target: {
        index,
        name: r.name ?? r.host + r.pathPrefix,
        host: r.host,
        pathPrefix: r.pathPrefix,
        upstream: r.upstream,
        retryUnsafe: r.retryUnsafe === true,
      },
      upstream,
      access: AccessList.compile(r.access),
      rate: r.rateLimit === false ? null : r.rateLimit ? compileRateScope(r.rateLimit, `r${index}:`, cfg.workers) : globalRate,
      cache: routePolicy(raw, r),
      compress: compressionPolicy(raw, r),
    };
  });
  const { limits, timeouts } = raw;
  return {
    cfg,
    workers: cfg.workers,
    router: new Router(routes.map((r) => r.target)),
    routes,
    upstreams,
    trusted: CidrSet.fromStrings(raw.trustedProxies),
    access: AccessList.compile(raw.access),
    limits: { ...limits, bodyIdleMs: timeouts.bodyIdleMs, requestMs: timeouts.requestMs, hsts: raw.tls?.hsts ?? null },
  };
}

/** the running generation (null before the first config) */
let current: Runtime | null = null;

/** runtime returns the running generation (null before the first config). */
export function runtime(): Runtime | null {
  return current;
}

/**
 * buildRuntime builds the generation of a config message; `prev` is the running one (carried
 * over where nothing changed). It opens the HTTPS listener last, so that a failure leaves nothing
 * open; it throws an Error whose message is for the operator.
 */
export function buildRuntime(msg: ConfigMsg, prev: Runtime | null, openTls: ListenerOpener): Runtime {
  // validated and derived by the primary (ConfigMsg)
  const cfg: LoadedConfig = { file: 'config', raw: msg.config, workers: msg.workers, upstreams: msg.upstreams };
  const raw = cfg.raw;
  const partial = {
    ...buildRouting(cfg, prev),
    generation: msg.generation,
    responses: new ResponsePolicy(raw.responses, strippedTargetedFields(raw)),
    store: buildCacheStore(raw.cache, prev?.store ?? null),
    compressor: buildCompressor(raw.compression, msg.workers, prev?.compressor ?? null),
  };
  let tls: GenerationListener | null = null;
  if (raw.tls) {
    const got = openTls(raw.listen.host, raw.tls);
    if (typeof got === 'string') {
      closeUnshared({ ...partial, accessLog: null, tls: null }, prev);
      throw new Error(got);
    }
    tls = got;
  }
  return { ...partial, tls, accessLog: openAccessLog(raw.logging, prev?.accessLog ?? null) };
}

/** closeUnshared closes what `rt` holds and `keep` does not share with it. */
function closeUnshared(rt: Runtime, keep: Runtime | null): void {
  for (const u of rt.upstreams.values()) u.close(keep?.upstreams.get(u.name));
  closePool(rt.compressor, keep?.compressor ?? null);
  if (rt.store !== keep?.store) rt.store.clear();
  // lines of requests still in flight on the old generation go to its successor
  if (rt.accessLog !== null && rt.accessLog !== keep?.accessLog) rt.accessLog.close(keep?.accessLog ?? null);
}

/** discardRuntime drops a generation that was built but will not run (closes the listener it opened). */
export function discardRuntime(rt: Runtime): void {
  rt.tls?.close();
  closeUnshared(rt, current);
}

/**
 * commitRuntime makes `next` the running generation, in one assignment; then it retires what the
 * old one held alone (idle upstream connections close now, busy ones finish their requests first).
 */
export function commitRuntime(next: Runtime): void {
  const old = current;
  current = next;
  next.tls?.activate?.();
  attachUpstreams(next.upstreams);
  setLogLevel(next.cfg.raw.logging.level);
  if (old === null) return;
  old.tls?.retire();
  closeUnshared(old, next);
}
