/**
 * The primary merges worker latency exactly: percentiles of the merged histogram are those of all
 * requests together, not an average of each worker's percentiles.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'hdr-histogram-js';
import { LatencyRecorder } from '../src/util/latency-recorder.js';
import { MetricsAggregator } from '../src/primary/metrics-agg.js';
import type { MetricsReport } from '../src/ipc.js';

function report(latenciesUs: number[], requests: number): MetricsReport {
  const h = new LatencyRecorder();
  for (const v of latenciesUs) h.record(v);
  return {
    families: {},
    counters: [],
    gauges: [],
    requests: [['*/', 'app', 's1', '2xx', requests]],
    errors: [],
    latency: [['app', 's1', h.drain(), latenciesUs.reduce((a, b) => a + b, 0)]],
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

  it('the worker recorder buckets values exactly as hdr-histogram-js does', () => {
    const hdr = build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2 });
    const merged = build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2 });
    const rec = new LatencyRecorder();
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    // every power of two and its neighbours, then random values over 1 us .. 1 h
    const values: number[] = [];
    for (let p = 0; p < 32; p++) values.push(2 ** p - 1, 2 ** p, 2 ** p + 1);
    for (let i = 0; i < 20_000; i++) values.push(Math.max(1, Math.round(Math.exp(rnd() * Math.log(3_600_000_000)))));
    for (const v of values) {
      if (v < 1) continue;
      hdr.recordValue(v);
      rec.record(v);
    }
    const pairs = rec.drain();
    for (let i = 0; i < pairs.length; i += 2) merged.recordValueWithCount(pairs[i]!, pairs[i + 1]!);
    assert.equal(merged.totalCount, hdr.totalCount);
    for (const q of [1, 10, 50, 90, 99, 99.9, 99.99, 100]) assert.equal(merged.getValueAtPercentile(q), hdr.getValueAtPercentile(q), `p${q}`);
    // bucket by bucket (JsHistogram internals, not in the package's types)
    type Raw = { countsArrayLength: number; getCountAtIndex(i: number): number };
    const a = merged as unknown as Raw;
    const b = hdr as unknown as Raw;
    assert.equal(a.countsArrayLength, b.countsArrayLength);
    for (let i = 0; i < b.countsArrayLength; i++) assert.equal(a.getCountAtIndex(i), b.getCountAtIndex(i), `bucket ${i}`);
    assert.deepEqual(rec.drain(), [], 'drained');
  });
});
