/**
 * `fulcrum bench` end to end (tiny durations: it checks the harness, never speed), the bench
 * backend's answers, and the peers' generated configs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { startBackend } from '../scripts/bench/proc.js';
import { haproxyConf, nginxConf, wrkScript } from '../native-bench/configs.js';
import { selectWorkloads, WORKLOADS } from '../scripts/bench/workloads.js';

test('the bench backend answers sized bodies and reads POST bodies', async () => {
  const b = await startBackend();
  try {
    const base = `http://127.0.0.1:${b.port}`;
    for (const n of [0, 100, 16384, 262144]) {
      const r = await request(`${base}/bytes/${n}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, n);
    }
    const p = await request(`${base}/upload`, { method: 'POST', body: Buffer.alloc(16384, 'y') });
    assert.equal(p.text, '16384\n');
    const j = await request(`${base}/cached/65536`);
    assert.equal(j.body.length, 65536);
    assert.equal(j.headers['cache-control'], 'public, max-age=3600');
    assert.ok(Array.isArray(JSON.parse(j.text)));
    assert.equal((await request(`${base}/nope`)).status, 404);
  } finally {
    await b.stop();
  }
});

test('fulcrum bench runs workloads direct and through fulcrum and writes the reports', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-test-'));
  const r = await runCli(['bench', '--duration', '1', '--warmup', '0', '--workloads', 'get-100b,post-16k', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /GET 100 B, 64 conns\s+direct/);
  assert.match(r.stdout, /POST 16 KiB, 64 conns\s+fulcrum \(1w\)/);
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json'));
  const html = files.find((f) => f.endsWith('.html'));
  assert.ok(json && html, `reports written: ${files.join(', ')}`);
  const report = JSON.parse(readFileSync(path.join(out, json), 'utf8')) as { runs: { workload: string; target: string; load: { requests: number; errors: number; curve: unknown[] }; proxy: { peakRssBytes: number } | null }[] };
  assert.deepEqual(
    report.runs.map((x) => `${x.workload}/${x.target}`),
    ['get-100b/direct', 'get-100b/fulcrum', 'post-16k/direct', 'post-16k/fulcrum'],
  );
  for (const run of report.runs) {
    assert.ok(run.load.requests > 0, `${run.workload}/${run.target} completed requests`);
    assert.equal(run.load.errors, 0, `${run.workload}/${run.target} had errors`);
    assert.ok(run.load.curve.length > 0);
    if (run.target === 'fulcrum') assert.ok(run.proxy!.peakRssBytes > 0);
  }
  const page = readFileSync(path.join(out, html), 'utf8');
  assert.match(page, /<svg/);
  assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained: no scripts, no external resources');
});

test('fulcrum bench refuses unknown options and workloads', async () => {
  const r = await runCli(['bench', '--workloads', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown workload "nope"; known: get-100b/);
  assert.throws(() => selectWorkloads('get-100b,x'), /unknown workload "x"/);
  assert.equal(selectWorkloads('').length, WORKLOADS.length);
});

test('peer configs listen on 127.0.0.1 only and keep upstream connections alive', () => {
  const n = nginxConf('/tmp/x', 18080, 19000, 1, 1024);
  assert.deepEqual(n.match(/^\s*listen .*$/gm)?.map((l) => l.trim()), ['listen 127.0.0.1:18080 backlog=4096;']);
  assert.match(n, /keepalive 1024;/);
  assert.match(n, /proxy_set_header Connection "";/);
  const h = haproxyConf(18081, 19000, 1);
  assert.deepEqual(h.match(/^\s*bind .*$/gm)?.map((l) => l.trim()), ['bind 127.0.0.1:18081']);
  assert.match(h, /nbthread 1/);
  assert.match(wrkScript('POST', 16384), /string\.rep\("y", 16384\)/);
});
