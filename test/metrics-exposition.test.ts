/**
 * GET /metrics as a Prometheus server and an alert rule see it: valid text format (a strict
 * reader, test/helpers/prom-text.ts), the standard process_* metrics for the primary and every
 * worker, fulcrum_build_info, and every counter series there from the start at 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, deadPort } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { parseExposition, type Exposition } from './helpers/prom-text.js';
import { until } from './helpers/wait.js';

describe('the strict exposition reader', () => {
  const bad: [string, string, RegExp][] = [
    ['a split family', '# HELP a_total x\n# TYPE a_total counter\na_total{k="1"} 1\n# HELP b x\n# TYPE b gauge\nb 1\na_total{k="2"} 1\n', /split/],
    ['a duplicate series', '# HELP a x\n# TYPE a gauge\na{k="1"} 1\na{k="1"} 2\n', /duplicate/],
    ['a counter not named _total', '# HELP a x\n# TYPE a counter\na 1\n', /_total/],
    ['a bad escape', '# HELP a x\n# TYPE a gauge\na{k="\\x"} 1\n', /escape/],
    ['buckets that are not cumulative', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /cumulative/],
    ['no final newline', '# HELP a x\n# TYPE a gauge\na 1', /newline/],
    ['no HELP', '# TYPE a gauge\na 1\n', /no HELP/],
  ];
  for (const [what, text, re] of bad) it(`rejects ${what}`, () => assert.throws(() => parseExposition(text), re));
});

describe('GET /metrics', () => {
  it('is valid exposition text with process metrics per process, build info, and every series at 0 from the start', { timeout: 30_000 }, async () => {
    const a = await createOrigin('a');
    const dead = await deadPort();
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: [{ url: a.url }, { url: `http://127.0.0.1:${dead}` }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    const started = Date.now() / 1000;
    try {
      const scrape = async (): Promise<Exposition> => {
        const r = await request(`${f.adminUrl}/metrics`);
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
        return parseExposition(r.text);
      };
      // before any request: the worker-registered families arrive with the first report (~500 ms)
      let m = await scrape();
      await until(async () => (m = await scrape()).get('fulcrum_unrouted_requests_total') !== undefined, 'the first worker report', 10_000);
      const sa = `127.0.0.1_${a.port}`;
      const sd = `127.0.0.1_${dead}`;
      for (const server of [sa, sd]) {
        for (const cls of ['2xx', '5xx', 'none'])
          assert.equal(m.get('fulcrum_requests_total', { route: '*/', upstream: 'app', server, code_class: cls }), 0, `${server} ${cls}`);
        assert.equal(m.get('fulcrum_upstream_errors_total', { upstream: 'app', server, kind: 'connect-refused' }), 0);
        assert.equal(m.get('fulcrum_upstream_retries_total', { upstream: 'app', server }), 0);
        assert.equal(m.get('fulcrum_request_duration_seconds_count', { upstream: 'app', server }), 0);
        assert.equal(m.get('fulcrum_request_duration_seconds_bucket', { upstream: 'app', server, le: '+Inf' }), 0);
      }
      for (const reason of ['deny', 'rate', 'size', 'timeout', 'parse', 'connections', 'unsupported'])
        assert.equal(m.get('fulcrum_rejections_total', { reason }), 0, reason);
      assert.equal(m.get('fulcrum_unrouted_requests_total'), 0);
      assert.equal(m.get('fulcrum_cache_requests_total', { result: 'hit' }), 0);
      assert.equal(m.get('fulcrum_compression_tasks_total', { where: 'pool' }), 0);

      // the process metrics: the primary and both workers, with plausible values
      const roles: Record<string, string>[] = [{ role: 'primary' }, { role: 'worker', worker: '0' }, { role: 'worker', worker: '1' }];
      for (const l of roles) {
        assert.ok(m.get('process_cpu_seconds_total', l)! > 0, JSON.stringify(l));
        assert.ok(m.get('process_resident_memory_bytes', l)! > 10 * 2 ** 20, JSON.stringify(l));
        assert.ok(m.get('process_virtual_memory_bytes', l)! > m.get('process_resident_memory_bytes', l)!);
        assert.ok(m.get('process_open_fds', l)! >= 3);
        assert.ok(m.get('process_max_fds', l)! >= m.get('process_open_fds', l)!);
        const t = m.get('process_start_time_seconds', l)!;
        assert.ok(t > started - 60 && t <= Date.now() / 1000 + 1, `start time ${t}`);
      }
      assert.equal(m.families.get('process_cpu_seconds_total')?.[0], 'counter');
      const info = m.samples.find((s) => s.name === 'fulcrum_build_info')!;
      assert.equal(info.value, 1);
      assert.equal(info.labels.version, '0.1.0');
      assert.equal(info.labels.node, process.version);
      assert.equal(info.labels.engine, 'fulcrum');
      assert.match(info.labels.build!, /^fulcrum http\/1\.1/);

      // traffic moves the counters it should, and the text stays valid
      for (let i = 0; i < 6; i++) await request(`${f.url}/x${i}`);
      await until(
        async () => ((m = await scrape()).get('fulcrum_requests_total', { route: '*/', upstream: 'app', server: sa, code_class: '2xx' }) ?? 0) > 0,
        'the requests counted',
        10_000,
      );
      assert.ok(m.get('fulcrum_request_duration_seconds_count', { upstream: 'app', server: sa })! > 0);
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
