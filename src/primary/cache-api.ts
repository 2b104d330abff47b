/**
 * The primary side of the response cache: POST /cache/purge pushes a purge to every worker
 * (StateSections.cachePurge) and answers once each live worker has reported applying it (or after
 * PURGE_WAIT_MS), with how many stored responses were dropped; GET /status gets a "cache" summary
 * merged from the workers' reports.
 */
import type { CacheReport } from '../ipc.js';
import type { AdminServer } from './admin.js';
import type { Supervisor } from './supervisor.js';
import type { SharedState } from './shared-state.js';

const PURGE_WAIT_MS = 2000;

export interface CacheApi {
  /** summary merges the latest report of every live worker */
  summary(): Omit<CacheReport, 'lastPurge'> | null;
}

export function registerCacheApi(admin: AdminServer, sup: Supervisor, shared?: SharedState | null): CacheApi {
  const reports = new Map<number, { pid: number; report: CacheReport }>();
  let purgeId = 0;
  let waiters: (() => void)[] = [];
  sup.reports.on('cache', (report, slot, pid) => {
    reports.set(slot, { pid, report });
    const w = waiters;
    waiters = [];
    for (const fn of w) fn();
  });
  // sharedState: purges are published to the other hosts, whose workers drop the entries too
  shared?.onMessage('purge', (p) => {
    const [value, prefix] = p as [string, boolean];
    sup.broadcastState({ cachePurge: { id: ++purgeId, value, prefix } });
  });
  const live = () => {
    const pids = new Set(sup.workerPids());
    return [...reports.values()].filter((r) => pids.has(r.pid));
  };

  admin.route('POST', '/cache/purge', async (req) => {
    const b = req.body as { url?: unknown; prefix?: unknown } | undefined;
    const url = typeof b?.url === 'string' && b.url ? b.url : null;
    const prefix = typeof b?.prefix === 'string' && b.prefix ? b.prefix : null;
    if ((url === null) === (prefix === null)) {
      return { status: 400, body: { error: 'send {"url": "http://host/path"} or {"prefix": "http://host/path/"} ("/path" matches every host)' } };
    }
    const id = ++purgeId;
    sup.broadcastState({ cachePurge: { id, value: (url ?? prefix)!, prefix: prefix !== null } });
    shared?.publish('purge', [(url ?? prefix)!, prefix !== null]);
    const deadline = Date.now() + PURGE_WAIT_MS;
    const expected = sup.workerPids().length;
    for (;;) {
      const done = live().filter((r) => (r.report.lastPurge?.id ?? 0) >= id);
      if (done.length >= expected || Date.now() >= deadline) {
        const dropped = done.reduce((n, r) => n + (r.report.lastPurge?.id === id ? r.report.lastPurge.dropped : 0), 0);
        return { body: { id, [url !== null ? 'url' : 'prefix']: url ?? prefix, dropped, workers: expected, workersConfirmed: done.length } };
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  });

  return {
    summary() {
      const rs = live();
      if (rs.length === 0) return null;
      const out = { entries: 0, bytes: 0, hits: 0, misses: 0, stored: 0, revalidated: 0, staleServed: 0, coalesced: 0, purged: 0 };
      for (const { report } of rs) for (const k of Object.keys(out) as (keyof typeof out)[]) out[k] += report[k];
      return out;
    },
  };
}
