/**
 * WebSocket echo benchmark: direct to a backend vs through fulcrum, in one run, rounds alternating.
 *
 *   npm run build && node dist/scripts/ws-bench.js [--connections 100] [--seconds 5] [--size 64] [--rounds 2] [--workers 1]
 *
 * The backend is a uWS echo server in a child process; fulcrum runs as `fulcrum start` with its
 * own workers; the clients (`ws`, closed loop: each connection sends its next message when the
 * echo of the previous one arrives) run in this process. Reports messages/s and round-trip
 * percentiles per round. FULCRUM_BENCH_NODE_ARGS="--cpu-prof" passes node flags to fulcrum's
 * processes (workers inherit them). On a shared 2-core machine the numbers are noisy: compare within a run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import * as hdr from 'hdr-histogram-js';
import { loadUws } from '../src/uws.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function runBackend(port: number): void {
  const { uws } = loadUws();
  uws
    .App()
    .ws('/*', {
      maxPayloadLength: 1 << 20,
      message: (ws, msg, isBinary) => void ws.send(msg, isBinary),
    })
    .listen('127.0.0.1', port, (ls) => {
      process.stdout.write(ls ? 'ready\n' : 'failed\n');
    });
}

async function waitFor(p: ChildProcess, stream: 'stdout' | 'stderr', text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    p[stream]!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.includes(text)) resolve();
    });
    p.once('exit', (code) => reject(new Error(`exited with ${code} before "${text}":\n${buf}`)));
  });
}

interface Result {
  label: string;
  msgsPerSec: number;
  p50: number;
  p99: number;
  max: number;
}

async function round(label: string, url: string, connections: number, seconds: number, size: number): Promise<Result> {
  const payload = Buffer.alloc(size, 97);
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  let count = 0;
  let running = true;
  const warmupEnd = performance.now() + 500;
  for (const ws of sockets) {
    let sentAt = 0;
    ws.on('message', () => {
      const now = performance.now();
      if (now > warmupEnd) {
        count++;
        h.recordValue(Math.round((now - sentAt) * 1000)); // microseconds
      }
      if (running) {
        sentAt = performance.now();
        ws.send(payload);
      }
    });
    sentAt = performance.now();
    ws.send(payload);
  }
  await new Promise((r) => setTimeout(r, 500 + seconds * 1000));
  running = false;
  const elapsed = performance.now() - warmupEnd;
  await new Promise((r) => setTimeout(r, 100));
  for (const ws of sockets) ws.terminate();
  const res = { label, msgsPerSec: Math.round((count / elapsed) * 1000), p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, max: h.maxValue / 1000 };
  h.destroy();
  return res;
}

async function main(): Promise<void> {
  if (process.argv.includes('--backend')) return runBackend(arg('port', 0));
  const connections = arg('connections', 100);
  const seconds = arg('seconds', 5);
  const size = arg('size', 64);
  const rounds = arg('rounds', 2);
  const workers = arg('workers', 1);
  const backendPort = await freePort();
  const port = await freePort();
  const backend = spawn(process.execPath, [fileURLToPath(import.meta.url), '--backend', '--port', String(backendPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-wsbench-'));
  const cfgFile = path.join(dir, 'config.json');
  writeFileSync(
    cfgFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: await freePort() },
      workers,
      upstreams: { app: { servers: [{ url: `http://127.0.0.1:${backendPort}` }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
      logging: { level: 'warn' },
    }),
  );
  const fulcrum = spawn(process.execPath, [...(process.env.FULCRUM_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(ROOT, 'bin', 'fulcrum.js'), 'start', '-c', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitFor(backend, 'stdout', 'ready');
    await waitFor(fulcrum, 'stdout', 'fulcrum');
    await new Promise((r) => setTimeout(r, 500));
    console.log(`WebSocket echo, ${size}-byte messages, ${connections} connections, ${seconds} s per round, fulcrum workers: ${workers}, cpus: ${os.cpus().length}, load before: ${os.loadavg()[0]!.toFixed(2)}`);
    const results: Result[] = [];
    for (let i = 0; i < rounds; i++) {
      results.push(await round('direct', `ws://127.0.0.1:${backendPort}/`, connections, seconds, size));
      results.push(await round('fulcrum', `ws://127.0.0.1:${port}/`, connections, seconds, size));
    }
    console.log('target    msgs/s    p50 ms   p99 ms   max ms');
    for (const r of results) console.log(`${r.label.padEnd(8)} ${String(r.msgsPerSec).padStart(8)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)} ${r.max.toFixed(2).padStart(8)}`);
  } finally {
    fulcrum.kill('SIGTERM');
    backend.kill('SIGTERM');
  }
}

await main();
