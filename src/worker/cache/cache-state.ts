/**
 * The worker side of the cache's IPC: purges pushed by the primary, stats in the batched report,
 * and the cache probes of GET /explain (answered at once, on their own).
 */
import { sendMsg, type CacheReport } from '../../ipc.js';
import { addReporter, flushReport, onState } from '../obs/report.js';
import { probeCache } from './cache-probe.js';
import { cacheStats } from './cache-context.js';
import { purgeCache } from './response-cache.js';
import type { CacheStore } from './store.js';

const WORKER_INDEX = Number(process.env.FULCRUM_WORKER_INDEX ?? 0);
let lastPurge: CacheReport['lastPurge'] = null;
let lastSig = '';

/** registerCacheState hooks the cache into the report/state channel; `store` is the running generation's. */
export function registerCacheState(store: () => CacheStore | null): void {
  onState('cachePurge', (p) => {
    if (lastPurge !== null && lastPurge.id >= p.id) return;
    const st = store();
    lastPurge = { id: p.id, dropped: st === null ? 0 : purgeCache(st, p.value, p.prefix) };
    flushReport();
  });
  onState('cacheProbe', (p) => {
    sendMsg(process, { type: 'report', sections: { cacheProbe: probeCache(store(), p, WORKER_INDEX) } });
  });
  // reported only when something changed (the report runs every REPORT_INTERVAL_MS, off the request path)
  addReporter('cache', () => {
    const st = store();
    const r: CacheReport = { entries: st?.size ?? 0, bytes: st?.bytes ?? 0, ...cacheStats, lastPurge };
    const sig = `${r.entries} ${r.bytes} ${r.hits} ${r.misses} ${r.stored} ${r.revalidated} ${r.staleServed} ${r.coalesced} ${r.purged} ${lastPurge?.id}`;
    if (sig === lastSig) return undefined;
    lastSig = sig;
    return r;
  });
}
