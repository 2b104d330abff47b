/**
 * The primary merges worker latency exactly: percentiles of the merged histogram are those of all
 * requests together, not an average of each worker's percentiles.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { MetricsAggregator } from '../src/primary/metrics-agg.js';
import type { MetricsReport } from '../src/ipc.js';

function report(latenciesUs: number[], requests: number): MetricsReport {
  const h = build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2 });
  for (const v of latenciesUs) h.recordValue(v);
  return {
    families: {},
    counters: [],
    gauges: [],
    requests: [['*/', 'app', 's1', '2xx', requests]],
    errors: [],
    latency: [['app', 's1', encodeIntoCompressedBase64(h), latenciesUs.reduce((a, b) => a + b, 0)]],
  };
}

describe('metrics merge', () => {
  it('adds histograms: the merged p50/p99 are those of all requests together', () => {
    const agg = new MetricsAggregator();
    try {
      // worker 1: 90 fast requests (1 ms); worker 2: 10 slow ones (100 ms)
      agg.ingest(1, report(Array(90).fill(1000), 90));
      agg.ingest(2, report(Array(10).fill(100_000), 10));
      const [s] = agg.summary();
      assert.equal(s!.requests, 100);
      assert.equal(s!.latency.count, 100);
      // all together: p50 is 1 ms and p99 is 100 ms (averaging per-worker p50s would give ~50 ms)
      assert.ok(Math.abs(s!.latency.p50Ms - 1) < 0.02, `p50 ${s!.latency.p50Ms}`);
      assert.ok(Math.abs(s!.latency.p99Ms - 100) < 1, `p99 ${s!.latency.p99Ms}`);
      const text = agg.prometheus({ workers: [] });
      assert.match(text, /fulcrum_request_duration_seconds_bucket\{upstream="app",server="s1",le="0\.001"\} 90\n/);
      assert.match(text, /fulcrum_request_duration_seconds_bucket\{upstream="app",server="s1",le="0\.1"\} 100\n/);
      assert.match(text, /fulcrum_request_duration_seconds_sum\{upstream="app",server="s1"\} 1\.09\n/);
      assert.match(text, /fulcrum_requests_total\{route="\*\/",upstream="app",server="s1",code_class="2xx"\} 100\n/);
    } finally {
      agg.close();
    }
  });
});
