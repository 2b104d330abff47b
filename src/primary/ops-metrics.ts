/**
 * Prometheus text for what the primary already knows but the worker metrics registry does not
 * carry: server health and its transitions, adaptive concurrency limits, and the cache and
 * compression totals the workers report. Appended to GET /metrics.
 */
import type { CacheReport, ReportSections } from '../ipc.js';
import type { UpstreamRegistry } from './upstream-state.js';

type CacheTotals = Omit<CacheReport, 'lastPurge'>;
type CompressionTotals = NonNullable<ReportSections['compression']>;

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function opsMetrics(registry: UpstreamRegistry, cache: () => CacheTotals | null, compression: () => CompressionTotals | null): () => string {
  return () => {
    const out: string[] = [];
    out.push(
      '# HELP fulcrum_upstream_server_up 1 while the server is up (active and passive health), 0 when down or ejected.',
      '# TYPE fulcrum_upstream_server_up gauge',
    );
    for (const [name, servers] of registry.all()) {
      for (const [id, e] of servers) out.push(`fulcrum_upstream_server_up{upstream="${esc(name)}",server="${esc(id)}"} ${registry.health(e) === 'up' ? 1 : 0}`);
    }
    const counts = new Map<string, number>();
    for (const t of registry.transitions)
      counts.set(`${t.upstream}\u0000${t.server}\u0000${t.to}`, (counts.get(`${t.upstream}\u0000${t.server}\u0000${t.to}`) ?? 0) + 1);
    out.push(
      '# HELP fulcrum_health_transitions_recent Health transitions among the last 50 kept, by server and new state.',
      '# TYPE fulcrum_health_transitions_recent gauge',
    );
    for (const [k, n] of counts) {
      const [u, s, to] = k.split('\u0000');
      out.push(`fulcrum_health_transitions_recent{upstream="${esc(u!)}",server="${esc(s!)}",to="${to}"} ${n}`);
    }
    out.push(...registry.concurrency.prometheus(esc));
    // present at 0 before the first worker report (and without cached routes), so alerts see no gaps
    const c = cache() ?? { entries: 0, bytes: 0, hits: 0, misses: 0, stored: 0, revalidated: 0, staleServed: 0, coalesced: 0, purged: 0 };
    out.push(
      '# HELP fulcrum_cache_requests_total Cache lookups of cached routes by result (live workers, since their start).',
      '# TYPE fulcrum_cache_requests_total counter',
    );
    out.push(
      `fulcrum_cache_requests_total{result="hit"} ${c.hits}`,
      `fulcrum_cache_requests_total{result="miss"} ${c.misses}`,
      `fulcrum_cache_requests_total{result="stale"} ${c.staleServed}`,
    );
    out.push(
      '# HELP fulcrum_cache_stored_total Responses stored in the cache.',
      '# TYPE fulcrum_cache_stored_total counter',
      `fulcrum_cache_stored_total ${c.stored}`,
    );
    out.push('# HELP fulcrum_cache_bytes Bytes held by the caches of all workers.', '# TYPE fulcrum_cache_bytes gauge', `fulcrum_cache_bytes ${c.bytes}`);
    out.push(
      '# HELP fulcrum_cache_entries Entries held by the caches of all workers.',
      '# TYPE fulcrum_cache_entries gauge',
      `fulcrum_cache_entries ${c.entries}`,
    );
    const z = compression() ?? { poolTasks: 0, mainThreadTasks: 0, bytesIn: 0, bytesOut: 0 };
    out.push('# HELP fulcrum_compression_tasks_total Responses compressed, by where the work ran.', '# TYPE fulcrum_compression_tasks_total counter');
    out.push(`fulcrum_compression_tasks_total{where="pool"} ${z.poolTasks}`, `fulcrum_compression_tasks_total{where="main"} ${z.mainThreadTasks}`);
    out.push(
      '# HELP fulcrum_compression_bytes_saved_total Bytes saved by compression (in minus out).',
      '# TYPE fulcrum_compression_bytes_saved_total counter',
      `fulcrum_compression_bytes_saved_total ${Math.max(0, z.bytesIn - z.bytesOut)}`,
    );
    return out.join('\n') + '\n';
  };
}
