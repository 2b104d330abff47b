/** The worker side of the cache's IPC: purges pushed by the primary, stats in the batched report. */
import type { CacheReport } from '../../ipc.js';
import { addReporter, flushReport, onState } from '../report.js';
import { cacheSize, cacheStats, purgeCache } from './response-cache.js';

let lastPurge: CacheReport['lastPurge'] = null;
let lastSig = '';

export function registerCacheState(): void {
  onState('cachePurge', (p) => {
    if (lastPurge !== null && lastPurge.id >= p.id) return;
    lastPurge = { id: p.id, dropped: purgeCache(p.value, p.prefix) };
    flushReport();
  });
  // reported only when something changed (the report runs every REPORT_INTERVAL_MS, off the request path)
  addReporter('cache', () => {
    const r: CacheReport = { ...cacheSize(), ...cacheStats, lastPurge };
    const sig = `${r.entries} ${r.bytes} ${r.hits} ${r.misses} ${r.stored} ${r.revalidated} ${r.staleServed} ${r.coalesced} ${r.purged} ${lastPurge?.id}`;
    if (sig === lastSig) return undefined;
    lastSig = sig;
    return r;
  });
}
