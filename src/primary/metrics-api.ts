/**
 * The metrics side of the admin listener: feeds worker reports to the MetricsAggregator and
 * serves GET /metrics (Prometheus text format). status() is what GET /status adds.
 */
import type { AdminServer } from './admin.js';
import type { Supervisor } from './supervisor.js';
import { MetricsAggregator } from './metrics-agg.js';
import { processMetrics } from './process-metrics.js';

export interface MetricsApi {
  agg: MetricsAggregator;
  status(): { metrics: ReturnType<MetricsAggregator['summary']> };
  close(): void;
}

/** extra: more Prometheus text appended to GET /metrics (e.g. fulcrum_shared_state_up) */
export function registerMetricsApi(admin: AdminServer, sup: Supervisor, extra?: () => string): MetricsApi {
  const agg = new MetricsAggregator();
  sup.reports.on('metrics', (m, _slot, pid) => agg.ingest(pid, m));
  admin.route('GET', '/metrics', async () => {
    agg.forgetWorkers(sup.workerPids());
    // every series the config implies is there from the start, at 0 (no gaps for alerts)
    agg.seed(sup.config);
    const body = agg.prometheus({ workers: sup.workers() }) + (extra?.() ?? '') + (await processMetrics(sup));
    return { body, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } };
  });
  return {
    agg,
    status: () => {
      agg.forgetWorkers(sup.workerPids());
      agg.seed(sup.config);
      return { metrics: agg.summary() };
    },
    close: () => agg.close(),
  };
}
