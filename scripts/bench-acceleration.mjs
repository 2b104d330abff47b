#!/usr/bin/env node
// Bench for the response cache and compression (issue 5): a 64 KiB compressible JSON response
// through one fulcrum worker, as identity, compressed on every request (pool or main thread),
// and as a cache hit (compressed once). One autocannon run per case; run after `npm run build`.
// Usage: node scripts/bench-acceleration.mjs [seconds=5] [connections=32] [encoding=br]
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 32);
const encoding = process.argv[4] ?? 'br';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const items = [];
for (let i = 0; Buffer.byteLength(JSON.stringify(items)) < 65536; i++)
  items.push({ id: i, name: `item ${i}`, price: (i * 1.37).toFixed(2), tags: ['alpha', 'beta', 'gamma'] });
const body = Buffer.from(JSON.stringify(items).slice(0, 65536 - 2) + '[]');
const origin = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url.startsWith('/cached')) res.setHeader('cache-control', 'max-age=3600');
  res.setHeader('content-length', body.length);
  res.end(body);
});
await new Promise((r) => origin.listen(0, '127.0.0.1', r));
const originUrl = `http://127.0.0.1:${origin.address().port}`;

async function startFulcrum(port, adminPort, poolSize) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      workers: 1,
      logging: { level: 'warn' },
      compression: { poolSize },
      upstreams: { app: { servers: [{ url: originUrl }] } },
      routes: [
        { host: '*', pathPrefix: '/plain', upstream: 'app', compression: false },
        { host: '*', pathPrefix: '/gz', upstream: 'app' },
        { host: '*', pathPrefix: '/cached', upstream: 'app', cache: true },
      ],
    }),
  );
  const p = spawn(process.execPath, [path.join(root, 'bin/fulcrum.js'), 'start', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => p.stdout.on('data', (d) => d.toString().includes('listening') && resolve()));
  return p;
}

function run(url, headers, duration = seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration, headers }, (err, r) => (err ? reject(err) : resolve(r)));
  });
}

const rows = [];
async function bench(name, url, headers = {}) {
  await run(url, headers, 1); // 1 s warm-up (JIT, pool threads, connections), then the measured run
  const r = await run(url, headers);
  rows.push({
    case: name,
    'req/s': Math.round(r.requests.average),
    'p99 ms': r.latency.p99,
    'MB/s': (r.throughput.average / 1e6).toFixed(1),
    errors: r.errors + r.non2xx,
  });
}

const pool = await startFulcrum(19170, 19171, 'auto');
const ae = { 'accept-encoding': encoding };
await bench('identity (compression off)', 'http://127.0.0.1:19170/plain', ae);
// gzip, deflate and zstd run on the worker's reused codecs whatever poolSize says; br on the pool
const where = encoding === 'br' ? 'piscina pool' : 'reused codecs';
await bench(`${encoding} on every request, ${where}`, 'http://127.0.0.1:19170/gz', ae);
await bench(`${encoding} cache hit (compressed once)`, 'http://127.0.0.1:19170/cached', ae);
await bench('identity cache hit', 'http://127.0.0.1:19170/cached', {});
pool.kill('SIGTERM');
const main = await startFulcrum(19172, 19173, 0);
await bench(`${encoding} on every request, ${encoding === 'br' ? 'main thread' : 'reused codecs'} (poolSize 0)`, 'http://127.0.0.1:19172/gz', ae);
main.kill('SIGTERM');
origin.close();
console.log(`64 KiB JSON, 1 worker, ${connections} connections, ${seconds} s per case, ${os.availableParallelism()} cores (shared machine: numbers are noisy)`);
console.table(rows);
process.exit(0);
