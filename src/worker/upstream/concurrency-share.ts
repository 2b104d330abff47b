/**
 * The worker's side of adaptive concurrency (upstreams.<name>.adaptiveConcurrency). The primary
 * (src/primary/concurrency-control.ts) owns each server's limit, cluster-wide; this worker reports
 * what the limit is computed from (the latencies of its requests to each server, and how many
 * requests wait in its queue) and applies its share of the limit to ServerState.admitLimit, which
 * ServerState.full() checks: a request over the share waits in the upstream's queue. Nothing here
 * runs per request (ServerState.recordLatency feeds the LatencyRecorder).
 */
import { LatencyRecorder } from '../../util/latency-recorder.js';
import type { ReportSections, StateSections } from '../../ipc.js';
import { addReporter, onState } from '../obs/report.js';
import type { Upstream } from './upstream.js';

type Shares = NonNullable<StateSections['concurrency']>;
type Report = NonNullable<ReportSections['concurrency']>;

const myIndex = Number(process.env.FULCRUM_WORKER_INDEX ?? 0);
let upstreams: Map<string, Upstream> = new Map();
const lastShares: Shares = {};
/** queue length last reported per upstream (an idle upstream is not reported again) */
const lastQueued = new Map<string, number>();

/** attachConcurrency makes `ups` the live upstreams (at start and on reload) and sets their servers up. */
export function attachConcurrency(ups: Map<string, Upstream>): void {
  upstreams = ups;
  lastQueued.clear();
  for (const u of ups.values()) {
    const ac = u.adaptive;
    for (const s of u.servers) {
      if (ac === undefined) {
        s.admitLimit = Infinity;
        s.latencySamples = null;
        continue;
      }
      s.latencySamples ??= new LatencyRecorder();
      // until the primary pushes a share: an even part of minLimit, the limit it starts from
      if (s.admitLimit === Infinity) s.admitLimit = Math.max(1, Math.floor(ac.minLimit / u.workers));
    }
  }
  applyShares(lastShares);
}

function applyShares(m: Shares): void {
  for (const [name, servers] of Object.entries(m)) {
    const u = upstreams.get(name);
    if (!u || u.adaptive === undefined) continue;
    for (const s of u.servers) {
      const v = servers[s.id];
      if (v !== undefined) s.admitLimit = v[1 + myIndex] ?? 1;
    }
    // a larger share lets waiting requests go now
    if (u.queue.length !== 0) u.queue.drain();
  }
}

/** installConcurrencyShare registers the state handler and the reporter (once per worker). */
export function installConcurrencyShare(): void {
  onState('concurrency', (m) => {
    for (const [name, servers] of Object.entries(m)) lastShares[name] = { ...lastShares[name], ...servers };
    applyShares(m);
  });
  addReporter('concurrency', () => {
    let out: Report | undefined;
    for (const u of upstreams.values()) {
      if (u.adaptive === undefined) continue;
      let per: Record<string, number[]> | undefined;
      for (const s of u.servers) {
        const rec = s.latencySamples;
        if (rec !== null && rec.count !== 0) (per ??= {})[s.id] = rec.drain();
      }
      const queued = u.queue.length;
      if (per === undefined && queued === 0 && lastQueued.get(u.name) === 0) continue;
      lastQueued.set(u.name, queued);
      (out ??= {})[u.name] = [queued, per ?? {}];
    }
    return out;
  });
}
