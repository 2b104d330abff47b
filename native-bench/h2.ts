/**
 * native-bench's HTTP/2 workloads (RFC 9113 over TLS, h2 by ALPN): h2load (Debian's
 * nghttp2-client) against fulcrum's TLS listener and nginx's `http2` server, both with one
 * self-signed certificate made for the run (openssl), through to the same HTTP/1.1 backend.
 * h2load reports no percentiles: they are computed from its per-request log (--log-file).
 * Runs are a request count (-n), not a duration: h2load 1.52's -D never ends when a client is still
 * connecting as the measurement ends (that client runs on, and h2load waits for it), which a busy
 * TLS listener makes common. The count is the target's rate in its warm-up run times the duration.
 * The answer check before the runs uses node:http2 (status, body size, and that h2 was spoken).
 * The soak workloads (h2-soak-*, opt-in) hold many connections × streams open for the memory
 * columns: peak RSS of the proxy's process tree, per connection, and what is left settleS seconds
 * after the load (native-bench.ts).
 */
import { readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { hasCommand, pinned } from '../scripts/bench/proc.js';
import { type SelfSigned, selfSigned } from '../scripts/bench/self-signed.js';
import type { Workload } from '../scripts/bench/workloads.js';
import type { GenResult } from './load-gen.js';
import { runToExit } from './load-gen.js';
import { say } from './targets.js';

/** An HTTP/2 workload: `connections` connections with up to `streams` requests in flight on each. */
export interface H2Workload extends Workload {
  streams: number;
  /** a soak: opt-in (--workloads), a warm-up of one request per stream slot, RSS read again this many seconds after the load */
  settleS?: number;
}

export const H2_WORKLOADS: H2Workload[] = [
  {
    name: 'h2-get-100b',
    title: 'HTTP/2 GET 100 B, 64 conns × 10 streams',
    method: 'GET',
    path: '/bytes/100',
    responseBytes: 100,
    connections: 64,
    streams: 10,
    direct: false,
  },
  {
    name: 'h2-get-16k',
    title: 'HTTP/2 GET 16 KiB, 64 conns × 10 streams',
    method: 'GET',
    path: '/bytes/16384',
    responseBytes: 16384,
    connections: 64,
    streams: 10,
    direct: false,
  },
];

/** opt-in (named in --workloads): many connections × streams, for memory; upstream connections as many as streams (native-bench.ts) */
export const H2_SOAK_WORKLOADS: H2Workload[] = [
  {
    name: 'h2-soak-16k',
    title: 'HTTP/2 soak GET 16 KiB, 1,000 conns × 10 streams',
    method: 'GET',
    path: '/bytes/16384',
    responseBytes: 16384,
    connections: 1000,
    streams: 10,
    direct: false,
    settleS: 3,
  },
  {
    name: 'h2-soak-1m',
    title: 'HTTP/2 soak GET 1 MiB, 200 conns × 5 streams',
    method: 'GET',
    path: '/bytes/1048576',
    responseBytes: 1048576,
    connections: 200,
    streams: 5,
    direct: false,
    settleS: 3,
  },
];

export const isH2 = (w: Workload): w is H2Workload => (w as Partial<H2Workload>).streams !== undefined;

/** the certificate both HTTPS servers present */
export type Cert = SelfSigned;

/** makeCert writes a self-signed P-256 certificate for 127.0.0.1 into dir; null (with the reason said) without openssl. */
export function makeCert(dir: string): Cert | null {
  if (!hasCommand('openssl')) {
    say('openssl not found (Debian package "openssl"): no certificate for the h2 workloads, skipping them');
    return null;
  }
  return selfSigned(dir, 'localhost', { name: 'bench', altNames: ['IP:127.0.0.1', 'DNS:localhost'] });
}

/** checkH2 sends the workload's request once over HTTP/2; an error message, or null when the answer is right. */
export function checkH2(port: number, w: Workload): Promise<string | null> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    const done = (wrong: string | null) => {
      clearTimeout(timer);
      session.destroy();
      resolve(wrong);
    };
    const timer = setTimeout(() => done('no answer within 10 s'), 10_000);
    session.on('error', (err) => done(err.message));
    const req = session.request({ ':method': w.method, ':path': w.path });
    let status = 0;
    let n = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () =>
      done(
        session.alpnProtocol !== 'h2'
          ? `ALPN ${JSON.stringify(session.alpnProtocol)}, expected h2`
          : status !== 200
            ? `status ${status}`
            : n !== w.responseBytes
              ? `a body of ${n} bytes, expected ${w.responseBytes}`
              : null,
      ),
    );
    req.on('error', (err) => done(err.message));
    req.end();
  });
}

/** percentile of sorted values (nearest rank) */
const pct = (sorted: Float64Array, p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0);

/** the requests of a warm-up run (then the count that fills the duration at the rate it showed) */
export const h2WarmupRequests = (w: H2Workload): number => w.connections * w.streams * (w.settleS === undefined ? 10 : 1);

/** h2Requests is the count of a measured run: `durationS` at `rps`, a whole number per connection, at least a warm-up's. */
export const h2Requests = (w: H2Workload, rps: number, durationS: number): number =>
  Math.max(h2WarmupRequests(w), Math.ceil((rps * durationS) / w.connections) * w.connections);

/** runH2load runs h2load for `requests` requests, pinned like wrk, and reads its summary and per-request log. */
export async function runH2load(port: number, w: H2Workload, requests: number, cpus: string | null, dir: string): Promise<GenResult> {
  const log = path.join(dir, `${w.name}.h2load.log`);
  const [cmd, args] = pinned(cpus, 'h2load', [
    '-t',
    '1',
    '-c',
    String(w.connections),
    '-m',
    String(w.streams),
    '-n',
    String(requests),
    '--log-file',
    log,
    `https://127.0.0.1:${port}${w.path}`,
  ]);
  const { code, out, err } = await runToExit(cmd, args);
  const finished = /finished in ([\d.]+)(m?s)/.exec(out);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (code !== 0 || !finished || !counts || !statuses) throw new Error(`h2load printed no result (exit ${code}):\n${out}${err}`);
  let durations: Float64Array;
  try {
    const lines = readFileSync(log, 'latin1').split('\n');
    durations = new Float64Array(lines.length);
    let k = 0;
    for (const l of lines) {
      const t = l.lastIndexOf('\t');
      if (t > 0) durations[k++] = Number(l.slice(t + 1));
    }
    durations = durations.subarray(0, k).sort();
  } finally {
    rmSync(log, { force: true });
  }
  const done = Number(counts[3]);
  const failed = Number(counts[5]) + Number(counts[6]) + Number(counts[7]);
  const notOk = Number(statuses[3]) + Number(statuses[4]);
  return {
    requests: done,
    durationS: Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1),
    errors: failed + notOk,
    p50Us: pct(durations, 50),
    p99Us: pct(durations, 99),
    p999Us: pct(durations, 99.9),
  };
}
