#!/usr/bin/env node
// Bench for shared sticky sessions (issue 8): what a first-seen session costs with
// sharedState.redis against without. Every request comes without a cookie, so each one creates a
// new session (the worst case: every session is written to Redis and published). One fulcrum
// worker, a local redis-server on a free port (Debian's, see scripts/ensure-test-deps.sh).
// Usage (after `npm run build`): node scripts/bench-shared-sessions.mjs [seconds=5] [connections=16]
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../dist/scripts/bench/free-port.js';

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 16);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** listening resolves once 127.0.0.1:port accepts a connection (at most timeoutMs). */
async function listening(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

const origins = await Promise.all(
  [0, 1].map(
    () =>
      new Promise((resolve) => {
        const o = http.createServer((req, res) => res.end('ok'));
        o.listen(0, '127.0.0.1', () => resolve(o));
      }),
  ),
);
const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await listening(redisPort);

async function run(shared) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: await freePort() },
      workers: 1,
      logging: { level: 'warn' },
      upstreams: { app: { sticky: { mode: 'cookie' }, servers: origins.map((o) => ({ url: `http://127.0.0.1:${o.address().port}` })) } },
      routes: [{ upstream: 'app' }],
      ...(shared ? { sharedState: { redis: { url: `redis://127.0.0.1:${redisPort}` } } } : {}),
    }),
  );
  const p = spawn(process.execPath, [path.join(root, 'bin', 'fulcrum.js'), 'start', '-c', file], { stdio: 'ignore' });
  await listening(port);
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: 1 }); // warm-up
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
  p.kill('SIGTERM');
  await new Promise((res) => p.once('exit', res));
  return r;
}

const rows = [];
for (const shared of [false, true, false, true]) {
  const r = await run(shared);
  rows.push(
    `| ${shared ? 'sharedState.redis' : 'local table only'} | ${Math.round(r.requests.average)} | ${r.latency.p50} ms | ${r.latency.p99} ms | ${r.non2xx + r.errors} |`,
  );
}
console.log('| new session on every request | req/s | p50 | p99 | failed |\n|---|---|---|---|---|\n' + rows.join('\n'));
redis.kill('SIGTERM');
for (const o of origins) o.close();
