/**
 * The worker's side of the state the primary owns for upstreams: availability flags (active
 * health, passive ejection, drain, slow start) and the merged in-flight counts of all workers,
 * applied to the live ServerStates; and the worker's reports back (its in-flight counts and the
 * failures of real requests). Nothing here runs per request.
 */
import { SERVER_DOWN, SERVER_DRAINED, SERVER_EJECTED, type StateSections } from '../../ipc.js';
import { addReporter, onState } from '../obs/report.js';
import type { ServerState } from './server-state.js';
import type { Upstream } from './upstream.js';
import { attachConcurrency, installConcurrencyShare } from './concurrency-share.js';

type Flags = NonNullable<StateSections['servers']>;
type Merged = NonNullable<StateSections['inFlight']>;

const myIndex = Number(process.env.FULCRUM_WORKER_INDEX ?? 0);
let upstreams: Map<string, Upstream> = new Map();
const lastFlags: Flags = {};
let lastMerged: Merged = {};
let reportedOnce = false;
let lastInFlightKey = '';

/** attachUpstreams makes `ups` the live upstreams (at start and on reload) and applies the last known state to them. */
export function attachUpstreams(ups: Map<string, Upstream>): void {
  upstreams = ups;
  for (const u of ups.values()) for (const s of u.servers) s.slowStartMs = u.spec.slowStartMs;
  applyFlags(lastFlags);
  applyMerged(lastMerged);
  attachConcurrency(ups);
  lastInFlightKey = ''; // report the new servers at the next flush
}

/**
 * applyServerFlags sets a server's availability from the primary's flags for it ([SERVER_DOWN |
 * SERVER_EJECTED | SERVER_DRAINED, slow start end]); `fulcrum explain --live` applies the
 * primary's state to its servers with it too.
 */
export function applyServerFlags(s: ServerState, f: readonly [number, number]): void {
  s.healthy = (f[0] & SERVER_DOWN) === 0;
  s.ejected = (f[0] & SERVER_EJECTED) !== 0;
  s.drained = (f[0] & SERVER_DRAINED) !== 0;
  s.slowStartUntil = f[1];
}

function applyFlags(flags: Flags): void {
  for (const [name, servers] of Object.entries(flags)) {
    const u = upstreams.get(name);
    if (!u) continue;
    for (const s of u.servers) {
      const f = servers[s.id];
      if (f) applyServerFlags(s, f);
    }
    if (u.queue.length !== 0) u.queue.drain();
  }
}

function applyMerged(m: Merged): void {
  for (const [name, servers] of Object.entries(m)) {
    const u = upstreams.get(name);
    if (!u) continue;
    const shared = u.spec.sharedInFlight;
    const now = performance.now();
    for (const s of u.servers) {
      if (!shared) {
        s.clearRemote();
        continue;
      }
      const per = servers[s.id];
      let remote = 0;
      if (per) for (let i = 0; i < per.length; i++) if (i !== myIndex) remote += per[i] ?? 0;
      s.setRemote(remote, now);
    }
    if (u.queue.length !== 0) u.queue.drain();
  }
}

/** install registers the state handlers and reporters (once per worker). */
export function installSharedState(): void {
  installConcurrencyShare();
  onState('servers', (f) => {
    for (const [name, servers] of Object.entries(f)) lastFlags[name] = { ...lastFlags[name], ...servers };
    applyFlags(f);
  });
  onState('inFlight', (m) => {
    lastMerged = m;
    applyMerged(m);
  });
  addReporter('inFlight', () => {
    const out: Record<string, Record<string, number>> = {};
    let key = '';
    for (const u of upstreams.values()) {
      const per: Record<string, number> = {};
      for (const s of u.servers) {
        per[s.id] = s.inFlight;
        key += s.inFlight + ',';
      }
      out[u.name] = per;
      key += ';';
    }
    // unchanged counts are not resent (the primary keeps the last ones), except the first time
    if (reportedOnce && key === lastInFlightKey) return undefined;
    reportedOnce = true;
    lastInFlightKey = key;
    return out;
  });
  addReporter('fails', () => {
    let out: Record<string, Record<string, number>> | undefined;
    for (const u of upstreams.values()) {
      for (const s of u.servers) {
        if (s.fails === 0) continue;
        ((out ??= {})[u.name] ??= {})[s.id] = s.fails;
        s.fails = 0;
      }
    }
    return out;
  });
}
