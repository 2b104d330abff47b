/**
 * Metrics: counted in the workers, merged exactly by the primary, served as Prometheus text on
 * GET /metrics and as percentiles in GET /status.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, deadPort } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

/** metric reads one sample from Prometheus text (undefined when absent). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) got[p[1]!] = p[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

async function waitMetrics(f: Fulcrum, ok: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = (await request(`${f.adminUrl}/metrics`)).text;
    if (ok(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  return text;
}

describe('metrics', () => {
  it('counts requests per route, server and class, upstream errors and latency, merged over workers', async () => {
    const a = await createOrigin('a');
    const dead = await deadPort();
    const f = await startFulcrum({
      workers: 2,
      upstreams: {
        // no retries and no ejection: every second request must fail on the dead server
        app: { balance: 'round-robin', retries: 0, passiveHealth: { maxFails: 0 }, servers: [{ url: a.url }, { url: `http://127.0.0.1:${dead}` }] },
        only: { servers: [{ url: a.url }] },
      },
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'app' },
        { host: '*', pathPrefix: '/only/', upstream: 'only' },
      ],
    });
    try {
      const N = 40;
      const statuses: number[] = [];
      for (let i = 0; i < N; i++) statuses.push((await request(`${f.url}/x${i}`)).status);
      for (let i = 0; i < 5; i++) assert.equal((await request(`${f.url}/only/${i}`)).status, 200);
      const ok = statuses.filter((s) => s === 200).length;
      const bad = statuses.filter((s) => s === 502).length;
      assert.equal(ok + bad, N);
      assert.ok(ok > 0 && bad > 0, 'both servers were picked');
      const sa = `127.0.0.1_${a.port}`;
      const sd = `127.0.0.1_${dead}`;
      const text = await waitMetrics(
        f,
        (t) =>
          metric(t, 'fulcrum_request_duration_seconds_count', { upstream: 'only', server: sa }) === 5 &&
          metric(t, 'fulcrum_requests_total', { route: '*/', server: sd, code_class: '5xx' }) === bad,
      );
      assert.equal(metric(text, 'fulcrum_requests_total', { route: '*/', upstream: 'app', server: sa, code_class: '2xx' }), ok);
      assert.equal(metric(text, 'fulcrum_requests_total', { route: '*/', upstream: 'app', server: sd, code_class: '5xx' }), bad);
      assert.equal(metric(text, 'fulcrum_requests_total', { route: '*/only/', upstream: 'only', server: sa, code_class: '2xx' }), 5);
      assert.equal(metric(text, 'fulcrum_upstream_errors_total', { upstream: 'app', server: sd, kind: 'connect-refused' }), bad);
      // the histogram: cumulative buckets, +Inf equals the count, the sum is plausible
      assert.equal(metric(text, 'fulcrum_request_duration_seconds_bucket', { upstream: 'app', server: sa, le: '+Inf' }), ok);
      assert.equal(metric(text, 'fulcrum_request_duration_seconds_count', { upstream: 'app', server: sa }), ok);
      const sum = metric(text, 'fulcrum_request_duration_seconds_sum', { upstream: 'app', server: sa })!;
      assert.ok(sum > 0 && sum < ok * 10, `sum ${sum}`);
      const b1 = metric(text, 'fulcrum_request_duration_seconds_bucket', { upstream: 'app', server: sa, le: '0.001' })!;
      const b60 = metric(text, 'fulcrum_request_duration_seconds_bucket', { upstream: 'app', server: sa, le: '60' })!;
      assert.ok(b1 <= b60 && b60 === ok);
      assert.equal(metric(text, 'fulcrum_upstream_in_flight', { upstream: 'app', server: sa }), 0);
      assert.equal(metric(text, 'fulcrum_workers'), 2);
      assert.equal(metric(text, 'fulcrum_worker_restarts_total', { worker: '0' }), 0);
      // each worker's resident memory, reported by the worker itself (a Node process: tens of MiB)
      for (const w of ['0', '1']) {
        const rss = metric(text, 'fulcrum_worker_resident_memory_bytes', { worker: w });
        assert.ok(rss !== undefined && rss > 20 * 2 ** 20 && rss < 1024 * 2 ** 20, `worker ${w} rss ${rss}`);
      }
      assert.match(text, /# TYPE fulcrum_request_duration_seconds histogram/);

      const s = JSON.parse((await request(`${f.adminUrl}/status`)).text);
      const m = s.metrics.find((x: { upstream: string; server: string }) => x.upstream === 'app' && x.server === sa);
      assert.equal(m.requests, ok);
      assert.ok(m.latency.p50Ms > 0 && m.latency.p50Ms <= m.latency.p90Ms && m.latency.p90Ms <= m.latency.p99Ms && m.latency.p99Ms <= m.latency.p999Ms);
      const md = s.metrics.find((x: { server: string }) => x.server === sd);
      assert.equal(md.errorRate, 1);
      assert.equal(md.errors['connect-refused'], bad);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('counts worker restarts', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({ workers: 1, upstreams: { app: { servers: [{ url: a.url }] } }, routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }] });
    try {
      const [pid] = f.workerPids();
      process.kill(pid!, 'SIGKILL');
      const text = await waitMetrics(f, (t) => metric(t, 'fulcrum_worker_restarts_total', { worker: '0' }) === 1);
      assert.equal(metric(text, 'fulcrum_worker_restarts_total', { worker: '0' }), 1);
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
