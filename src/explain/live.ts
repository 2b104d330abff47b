/**
 * `fulcrum explain --live`, the primary's side (GET /explain, src/primary/explain-api.ts, loads
 * this module on first use so that a primary that is never asked never loads the worker's code).
 * The routing is built from the running config by the worker's buildRouting, and then given the
 * state a worker would have if it started now: the flags the primary pushes to every worker
 * (health, ejection, drain, slow start), applied by the worker's own applyServerFlags; the
 * in-flight counts of all workers together (and the adaptive concurrency limit, cluster-wide); the
 * primary's sticky-session table and rate-limit buckets. The cache lives in the workers: one of
 * them is asked (a cache probe) what it holds for the request.
 */
import type { LoadedConfig } from '../config/load.js';
import type { CacheProbe, CacheProbeAnswer, StateSections } from '../ipc.js';
import { buildRouting, type Routing } from '../worker/runtime.js';
import type { SessionLookup } from '../worker/sticky.js';
import { applyServerFlags } from '../worker/upstream/shared-state.js';
import { explain, type LiveState } from './explain.js';
import type { Explanation } from './explanation.js';
import { parseExplainInput, type ExplainInput } from './request.js';

/** What the primary knows, as GET /explain hands it over. */
export interface PrimaryView {
  config: LoadedConfig;
  generation: number;
  /** what a worker that starts now is sent (UpstreamRegistry.fullState) */
  state: StateSections;
  sessions(upstream: string): SessionLookup;
  /** tokens of a cluster-wide rate-limit bucket (undefined: none, full) */
  rateTokens(key: string): number | undefined;
  /** asks one worker's cache (null: no answer in time) */
  probeCache(p: Omit<CacheProbe, 'id'>): Promise<CacheProbeAnswer | null>;
}

/** liveRouting builds the running config's routing with the primary's state applied to its servers. */
function liveRouting(v: PrimaryView): Routing {
  const routing = buildRouting(v.config, null);
  const flags = v.state.servers ?? {};
  const inFlight = v.state.inFlight ?? {};
  const limits = v.state.concurrency ?? {};
  for (const up of routing.upstreams.values()) {
    for (const s of up.servers) {
      s.slowStartMs = up.spec.slowStartMs;
      const f = flags[up.name]?.[s.id];
      if (f) applyServerFlags(s, f);
      // all workers' requests as this server's own: the cluster-wide count, nothing estimated
      s.inFlight = (inFlight[up.name]?.[s.id] ?? []).reduce((a, b) => a + b, 0);
      s.clearRemote();
      const limit = limits[up.name]?.[s.id]?.[0];
      if (limit !== undefined) s.admitLimit = limit;
    }
  }
  return routing;
}

/** explainLive answers GET /explain: the explanation, or a string saying what is wrong with the request. */
export async function explainLive(v: PrimaryView, input: ExplainInput): Promise<Explanation | string> {
  const req = parseExplainInput(input);
  if (typeof req === 'string') return req;
  const routing = liveRouting(v);
  const live: LiveState = {
    sessions: (name) => v.sessions(name),
    rateTokens: (key, burst) => v.rateTokens(key) ?? burst,
    cacheEntry: undefined,
  };
  const config = `generation ${v.generation}`;
  const first = explain(routing, req, config, live);
  const cache = first.steps.find((s) => s.name === 'cache');
  if (cache?.name !== 'cache' || !cache.caches) return first;
  live.cacheEntry = await v.probeCache({ method: req.method, target: req.target, secure: req.secure, fields: req.fields });
  // a second dry run over the same routing, now knowing the cache's entry (the first changed nothing)
  return explain(routing, req, config, live);
}
