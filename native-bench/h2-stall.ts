/**
 * h2-stall: HTTP/2 clients that stop reading (what h2load cannot do), against fulcrum's TLS
 * listener, with the worker's memory measured. N connections each open M streams for large
 * responses and then never read their socket again; a well-behaved node:http2 client keeps
 * fetching 16 KiB meanwhile. Reports the workers' RSS (VmRSS from /proc) before, at its peak
 * while stalled, and after the stalled clients are gone, with the bound the code sets (RFC 9113
 * 5.2 flow control, socket backpressure; BENCHMARKS.md, "HTTP/2 soak").
 *
 *   node dist/native-bench/h2-stall.js [--connections 20] [--streams 10] [--bytes 2097152]
 *     [--hold 4] [--implementations fulcrum,node] [--default-windows]
 *
 * Stalled clients announce the largest windows (SETTINGS_INITIAL_WINDOW_SIZE 2^31-1 and a
 * connection WINDOW_UPDATE to match), so only socket backpressure stops the server, unless
 * --default-windows (65,535 octets each: flow control stops it first). Raw frames (HPACK literals,
 * RFC 7541 6.2.2): node:http2 cannot stop reading its socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { intArg, parseOptions } from '../scripts/bench/args.js';
import { descendants, freePort, onInterrupt, rssBytes, startBackend, startFulcrum } from '../scripts/bench/proc.js';
import { manyClients } from '../scripts/bench/workloads.js';
import { makeCert } from './h2.js';
import { say } from './targets.js';

const HELP = `usage: node dist/native-bench/h2-stall.js [options]

  --connections N      stalled connections (default 20)
  --streams M          streams each (default 10)
  --bytes B            response size (default 2097152)
  --hold S             seconds stalled, the well-behaved client fetching meanwhile (default 4)
  --implementations L  http2.implementation values to run, in turn (default fulcrum,node)
  --default-windows    stalled clients keep the default 65,535-octet windows
`;

const KiB = 1024;
/** the constants of the bound (src/worker/h2/stream-exchange.ts HIGH_WATER, the upstream read buffer, frame-writer.ts SOCKET_HIGH, conn.ts OUT_HIGH, frame-writer.ts arenas) */
const PER_STREAM = 64 * KiB + 64 * KiB;
const PER_CONNECTION = 256 * KiB + 256 * KiB + 64 * KiB;
const ARENA_POOL = 256 * 64 * KiB;

/** boundBytes: what fulcrum's own frame layer may hold for n connections × m stalled streams */
const boundBytes = (n: number, m: number): number => n * m * PER_STREAM + n * PER_CONNECTION + ARENA_POOL;

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** a literal field without indexing, new name, no Huffman (RFC 7541 6.2.2); names and values under 127 octets */
const literal = (n: string, v: string): Buffer => Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);

/** stall opens one connection, sends m GETs of `target` and stops reading; resolves with its socket. */
async function stall(port: number, m: number, target: string, bigWindows: boolean): Promise<tls.TLSSocket> {
  const s = tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false, servername: 'localhost' });
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', () => resolve());
    s.once('error', reject);
  });
  s.pause();
  const out: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')];
  const settings = Buffer.alloc(bigWindows ? 6 : 0);
  if (bigWindows) {
    settings.writeUInt16BE(4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(0x7fffffff, 2);
  }
  out.push(frame(4, 0, 0, settings), frame(4, 1, 0, Buffer.alloc(0))); // ours, and an ACK of the server's
  if (bigWindows) {
    const inc = Buffer.alloc(4);
    inc.writeUInt32BE(0x7fffffff - 65535);
    out.push(frame(8, 0, 0, inc));
  }
  const block = Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'https'), literal(':authority', 'localhost'), literal(':path', target)]);
  for (let i = 0; i < m; i++) out.push(frame(1, 0x5, 1 + 2 * i, block)); // END_STREAM | END_HEADERS
  s.write(Buffer.concat(out));
  return s;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const workerRss = (primary: number): number => rssBytes(descendants(primary));

async function main(argv: string[]): Promise<void> {
  const o = { connections: 20, streams: 10, bytes: 2 * 1024 * 1024, holdS: 4, implementations: ['fulcrum', 'node'], bigWindows: true };
  const ok = parseOptions(
    argv,
    {
      '--connections': (v) => (o.connections = intArg('--connections', v(), 1)),
      '--streams': (v) => (o.streams = intArg('--streams', v(), 1)),
      '--bytes': (v) => (o.bytes = intArg('--bytes', v(), 1)),
      '--hold': (v) => (o.holdS = intArg('--hold', v(), 1)),
      '--implementations': (v) => (o.implementations = v().split(',')),
      '--default-windows': () => (o.bigWindows = false),
    },
    HELP,
  );
  if (!ok) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'h2-stall-'));
  const cert = makeCert(dir);
  if (cert === null) return;
  const backend = await startBackend();
  const stops: (() => Promise<void>)[] = [() => backend.stop()];
  const unregister = onInterrupt(async () => {
    for (const s of stops) await s();
  });
  const n = o.connections;
  const m = o.streams;
  say(
    `${n} connections × ${m} streams of ${o.bytes} B that stop reading (${o.bigWindows ? 'windows 2^31-1' : 'default windows'}), ${o.holdS} s; bound for fulcrum's own frame layer: ${mib(boundBytes(n, m))} MiB (${n * m} × ${PER_STREAM / KiB} KiB + ${n} × ${PER_CONNECTION / KiB} KiB + ${mib(ARENA_POOL)} MiB arena pool)`,
  );
  try {
    for (const impl of o.implementations) {
      const tlsPort = await freePort();
      const many = manyClients(1024);
      const f = await startFulcrum(backend.port, 1, {
        config: (cfg) => {
          many(cfg);
          cfg.tls = { port: tlsPort, cert: cert.cert, key: cert.key };
          cfg.http2 = { implementation: impl };
          return cfg;
        },
      });
      stops.unshift(() => f.stop());
      const good = http2.connect(`https://127.0.0.1:${tlsPort}`, { rejectUnauthorized: false });
      good.on('error', () => {});
      const get = (p: string) =>
        new Promise<number>((resolve, reject) => {
          const r = good.request({ ':path': p });
          let len = 0;
          r.on('data', (d: Buffer) => (len += d.length));
          r.on('end', () => resolve(len));
          r.on('error', reject);
          r.setTimeout(10_000, () => r.close());
        });
      // warm: the same responses, read, on as many streams (JIT, pools, the heap's first growth)
      for (let k = 0; k < 3; k++) await Promise.all(Array.from({ length: m }, () => get(`/bytes/${o.bytes}`)));
      const rss0 = workerRss(f.pid);
      const sockets = await Promise.all(Array.from({ length: n }, () => stall(tlsPort, m, `/bytes/${o.bytes}`, o.bigWindows)));
      let peak = rss0;
      const lat: number[] = [];
      let failed = 0;
      const end = performance.now() + o.holdS * 1000;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          if ((await get('/bytes/16384')) !== 16384) failed++;
          else lat.push(performance.now() - t0);
        } catch {
          failed++;
        }
        peak = Math.max(peak, workerRss(f.pid));
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 3000));
      const rss1 = workerRss(f.pid);
      lat.sort((a, b) => a - b);
      const growth = peak - rss0;
      process.stdout.write(
        `${impl}: worker RSS ${mib(rss0)} MiB before, ${mib(peak)} peak while stalled (+${mib(growth)} MiB, ${(growth / (n * m) / KiB).toFixed(0)} KiB per stalled stream), ${mib(rss1)} MiB 3 s after they left; well-behaved client: ${lat.length} × 16 KiB served meanwhile, ${failed} failed, p50 ${lat[lat.length >> 1]?.toFixed(1)} ms, max ${lat[lat.length - 1]?.toFixed(1)} ms\n`,
      );
      good.close();
      await f.stop();
      stops.shift();
    }
  } finally {
    unregister();
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`h2-stall: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
