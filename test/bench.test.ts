/**
 * `fulcrum bench` end to end (tiny durations: it checks the harness, never speed), the bench
 * backend's answers, native-bench's targets (a 1 s run through the Node peers, the HTTP/2
 * workloads through fulcrum and nginx with h2load, or their skip without it), and the peers'
 * generated configs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';
import { h2connect, h2request } from './helpers/h2.js';
import { createOrigin, freePort } from './helpers/origin.js';
import { until } from './helpers/wait.js';
import { startBackend } from '../scripts/bench/proc.js';
import { checkWsEcho } from '../scripts/bench/ws-load.js';
import { haproxyConf, nginxConf, wrkScript } from '../native-bench/configs.js';
import { ALL_TARGETS, parse } from '../native-bench/options.js';
import { hasCommand } from '../scripts/bench/proc.js';
import { selectWorkloads, WORKLOADS, wsEcho } from '../scripts/bench/workloads.js';

/** runNativeBench runs `native-bench <args>` (the built one) to completion. */
function runNativeBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'dist', 'native-bench', 'native-bench.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

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
    assert.equal(await checkWsEcho(base, wsEcho(1, 64)), null, 'WebSocket echo on /echo');
    assert.equal(await checkWsEcho(base, wsEcho(1, 100_000)), null, 'a large message echoed whole');
  } finally {
    await b.stop();
  }
});

test('fulcrum bench runs workloads direct and through fulcrum and writes the reports', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-test-'));
  const r = await runCli(['bench', '--duration', '1', '--warmup', '0', '--workloads', 'get-100b,post-16k,ws-echo', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /GET 100 B, 64 conns\s+direct/);
  assert.match(r.stdout, /POST 16 KiB, 64 conns\s+fulcrum \(1w\)/);
  assert.match(r.stdout, /WebSocket echo 64 B, 64 conns\s+fulcrum \(1w\)/);
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json'));
  const html = files.find((f) => f.endsWith('.html'));
  assert.ok(json && html, `reports written: ${files.join(', ')}`);
  const report = JSON.parse(readFileSync(path.join(out, json), 'utf8')) as {
    runs: { workload: string; target: string; load: { requests: number; errors: number; curve: unknown[] }; proxy: { peakRssBytes: number } | null }[];
  };
  assert.deepEqual(
    report.runs.map((x) => `${x.workload}/${x.target}`),
    ['get-100b/direct', 'get-100b/fulcrum', 'post-16k/direct', 'post-16k/fulcrum', 'ws-echo/direct', 'ws-echo/fulcrum'],
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
  assert.deepEqual(
    n.match(/^\s*listen .*$/gm)?.map((l) => l.trim()),
    ['listen 127.0.0.1:18080 backlog=4096;'],
  );
  assert.match(n, /keepalive 1024;/);
  assert.match(n, /proxy_set_header Connection "";/);
  const h = haproxyConf(18081, 19000, 1);
  assert.deepEqual(
    h.match(/^\s*bind .*$/gm)?.map((l) => l.trim()),
    ['bind 127.0.0.1:18081'],
  );
  assert.match(h, /nbthread 1/);
  assert.match(wrkScript('POST', 16384), /string\.rep\("y", 16384\)/);
});

test('peer configs pass WebSocket upgrades on (ws-echo)', () => {
  const n = nginxConf('/tmp/x', 18080, 19000, 1, 1024);
  assert.match(n, /location \/echo \{[^}]*proxy_set_header Upgrade \$http_upgrade;[^}]*proxy_set_header Connection "upgrade";/);
  assert.match(haproxyConf(18081, 19000, 1), /mode http/);
});

test('native-bench compares gzip with nginx at the same level, sending the workload fields', () => {
  const n = nginxConf('/tmp/x', 18080, 19000, 1, 1024);
  assert.match(n, /gzip on;\s+gzip_comp_level 6;/);
  assert.match(n, /gzip_types application\/json;/);
  assert.match(wrkScript('GET', 0, { 'accept-encoding': 'gzip' }), /wrk\.headers\["accept-encoding"\] = "gzip"/);
  const gz = parse([])!.workloads.filter((w) => w.encoding === 'gzip');
  assert.deepEqual(
    gz.map((w) => w.name),
    ['get-64k-gzip', 'get-1m-gzip-chunked'],
  );
});

test('native-bench knows the Node peers and the ws-echo workload', () => {
  const d = parse([])!;
  assert.deepEqual(d.targets, ALL_TARGETS);
  for (const t of ['http-proxy', 'fastify-proxy']) assert.ok(d.targets.includes(t as never), `${t} is a default target`);
  assert.ok(
    d.workloads.some((w) => w.name === 'ws-echo'),
    'ws-echo is a default workload',
  );
  assert.ok(!d.workloads.some((w) => w.native === false), 'fulcrum-only workloads are not in the default list');
  assert.deepEqual(parse(['--targets', 'fulcrum,http-proxy,fastify-proxy'])!.targets, ['fulcrum', 'http-proxy', 'fastify-proxy']);
  assert.throws(
    () => parse(['--targets', 'fulcrum,express']),
    /unknown target "express"; known: direct, fulcrum, fulcrum-uws, nginx, haproxy, http-proxy, fastify-proxy/,
  );
});

test('native-bench runs the Node peers (HTTP and WebSocket) and writes their samples', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'native-bench-test-'));
  const args = [
    '--targets',
    'http-proxy,fastify-proxy',
    '--workloads',
    'get-100b,ws-echo',
    '--duration',
    '1',
    '--rounds',
    '1',
    '--warmup',
    '0',
    '--no-install',
    '--out',
    out,
  ];
  const r = await runNativeBench(args);
  assert.equal(r.code, 0, r.stderr);
  // Both peers started and answered the check request: a peer that could not is reported as
  // "skipping <peer>". Whichever load generator ran (wrk when installed, autocannon otherwise)
  // is not this test's concern: a missing wrk is not a failure.
  assert.doesNotMatch(r.stderr, /(http-proxy|fastify-proxy)(: the npm package| did not start| answered)/, 'both peers started and answered');
  assert.match(r.stdout, /http-proxy req\/s\s+fastify-proxy req\/s/);
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  assert.ok(json);
  const report = JSON.parse(readFileSync(path.join(out, json), 'utf8')) as {
    samples: Record<string, { rps: number; errors: number; cpuUsPerRequest: number | null }[]>;
    versions: Record<string, string>;
  };
  assert.deepEqual(Object.keys(report.samples).sort(), ['get-100b/fastify-proxy', 'get-100b/http-proxy', 'ws-echo/fastify-proxy', 'ws-echo/http-proxy']);
  for (const [k, runs] of Object.entries(report.samples)) {
    assert.equal(runs.length, 1, `${k}: one sample per round`);
    const s = runs[0];
    assert.ok(s!.rps > 0, `${k} answered`);
    assert.equal(s!.errors, 0, `${k} had errors`);
    assert.ok(s!.cpuUsPerRequest !== null && s!.cpuUsPerRequest > 0, `${k} CPU measured`);
  }
  assert.match(report.versions['fastify-proxy']!, /fastify \d+\.\d+\.\d+ \+ @fastify\/http-proxy/);
});

test("native-bench's net-floor (fulcrum's engine in front of a bare relay) answers GET and POST", async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'native-bench-test-'));
  const args = ['--targets', 'net-floor', '--workloads', 'get-16k,post-16k', '--duration', '1', '--rounds', '1', '--warmup', '0', '--no-install', '--out', out];
  const r = await runNativeBench(args);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /net-floor( did not start| answered)/, 'net-floor started and answered the check requests');
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  const report = JSON.parse(readFileSync(path.join(out, json!), 'utf8')) as { samples: Record<string, { rps: number; errors: number }[]> };
  assert.deepEqual(Object.keys(report.samples).sort(), ['get-16k/net-floor', 'post-16k/net-floor']);
  for (const [k, runs] of Object.entries(report.samples)) assert.ok(runs[0]!.rps > 0 && runs[0]!.errors === 0, `${k} answered without errors`);
});

for (const [floor, what] of [
  ['h2-floor', 'bare node:http2'],
  ['h2own-floor', 'our own HTTP/2 frames and HPACK on node:tls'],
] as const)
  test(`native-bench's ${floor} (${what} + relay) answers over HTTP/2, also after the backend closed an idle connection`, async (t) => {
    if (!hasOpenssl()) return t.skip(`openssl not found (Debian package "openssl"): no certificate for ${floor}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), `${floor}-test-`));
    const cert = makeCert(dir, 'localhost');
    const origin = await createOrigin('floor', (req, res) => {
      const n = Number(req.url!.split('/').pop());
      res.writeHead(200, { 'content-length': n });
      res.end(Buffer.alloc(n, 120));
    });
    origin.server.keepAliveTimeout = 100; // closes the relay's idle connections between the two rounds
    let open = 0;
    origin.server.on('connection', (c) => {
      open++;
      c.on('close', () => open--);
    });
    const port = await freePort();
    const peer = spawn(
      process.execPath,
      [path.join(ROOT, 'dist', 'native-bench', 'peers', `${floor}.js`), String(port), String(origin.port), '1', cert.cert, cert.key],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        peer.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('listening') && resolve());
        peer.once('exit', (code) => reject(new Error(`${floor} exited (${code})`)));
      });
      for (const round of [1, 2]) {
        const s = await h2connect(`https://127.0.0.1:${port}`);
        try {
          const sizes = [100, 16384, 70000, 0];
          const rs = await Promise.all(sizes.map((n) => h2request(s, { ':path': `/bytes/${n}` })));
          rs.forEach((r, i) => {
            assert.equal(r.status, 200, `round ${round}, ${sizes[i]} bytes: status`);
            assert.equal(r.body.length, sizes[i], `round ${round}: body bytes`);
          });
        } finally {
          s.destroy();
        }
        if (round === 1) await until(() => origin.sockets > 0 && open === 0, 'the origin closed its idle connections');
      }
    } finally {
      peer.kill('SIGTERM');
      await origin.close();
    }
  });

test("nginx's HTTP/2 server: TLS with the run's certificate, http2 as this nginx spells it", () => {
  const tls = { port: 18443, cert: '/tmp/x/cert.pem', key: '/tmp/x/key.pem' };
  const old = nginxConf('/tmp/x', 18080, 19000, 1, 1024, { ...tls, http2: 'listen' });
  assert.deepEqual(
    old.match(/^\s*listen .*$/gm)?.map((l) => l.trim()),
    ['listen 127.0.0.1:18080 backlog=4096;', 'listen 127.0.0.1:18443 ssl http2 backlog=4096;'],
  );
  assert.match(old, /ssl_certificate \/tmp\/x\/cert\.pem;\s+ssl_certificate_key \/tmp\/x\/key\.pem;/);
  const recent = nginxConf('/tmp/x', 18080, 19000, 1, 1024, { ...tls, http2: 'directive' });
  assert.match(recent, /listen 127\.0\.0\.1:18443 ssl backlog=4096;\s+http2 on;/);
  assert.doesNotMatch(nginxConf('/tmp/x', 18080, 19000, 1, 1024), /ssl|http2/, 'no HTTPS server without the h2 workloads');
  const h2 = parse([])!.workloads.filter((w) => w.name.startsWith('h2-'));
  assert.deepEqual(
    h2.map((w) => w.name),
    ['h2-get-100b', 'h2-get-16k'],
  );
  // the soaks are opt-in
  assert.deepEqual(
    parse(['--workloads', 'h2-soak-16k,h2-soak-1m'])!.workloads.map((w) => w.name),
    ['h2-soak-16k', 'h2-soak-1m'],
  );
});

test('native-bench runs the HTTP/2 workloads with h2load through fulcrum and nginx, or says why it skips them', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'native-bench-test-'));
  const args = ['--targets', 'fulcrum,nginx', '--workloads', 'h2-get-100b', '--duration', '1', '--rounds', '1', '--warmup', '0', '--no-install', '--out', out];
  const r = await runNativeBench(args);
  assert.equal(r.code, 0, r.stderr);
  if (!hasCommand('h2load') || !hasCommand('openssl')) {
    // the reason, and nothing run
    assert.match(r.stderr, /(h2load|openssl) not found/);
    assert.match(r.stderr, /skipping h2-get-100b/);
    assert.deepEqual(
      readdirSync(out).filter((f) => f.endsWith('.json')),
      [],
    );
    return;
  }
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  assert.ok(json, r.stderr);
  const report = JSON.parse(readFileSync(path.join(out, json), 'utf8')) as {
    samples: Record<string, { rps: number; errors: number; p99Us: number; cpuUsPerRequest: number | null; rssBeforeBytes: number; rssPeakBytes: number }[]>;
    versions: Record<string, string>;
  };
  assert.match(report.versions.h2load!, /nghttp2/);
  // nginx runs when installed with ngx_http_v2_module; fulcrum always
  const expected = ['h2-get-100b/fulcrum'];
  if (report.versions.nginx && !/without ngx_http_v2_module/.test(r.stderr)) expected.push('h2-get-100b/nginx');
  assert.deepEqual(Object.keys(report.samples).sort(), expected);
  for (const [k, runs] of Object.entries(report.samples)) {
    const s = runs[0]!;
    assert.ok(s.rps > 0 && s.p99Us > 0, `${k} answered`);
    assert.equal(s.errors, 0, `${k} had errors`);
    assert.ok(s.cpuUsPerRequest !== null && s.cpuUsPerRequest > 0, `${k} CPU measured`);
    // the memory table: RSS of the proxy's process tree, its peak at least what it was before
    assert.ok(s.rssBeforeBytes > 1e6 && s.rssPeakBytes >= s.rssBeforeBytes, `${k} RSS measured`);
  }
  assert.match(r.stdout, /RSS MiB started \/ before \/ peak \/ after/);
});
