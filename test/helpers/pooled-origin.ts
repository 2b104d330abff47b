/**
 * A backend that behaves like a thread-pooled app server: it serves `capacity` requests at a time,
 * each for `serviceMs`, and queues the rest in arrival order, so once it is saturated its latency
 * grows with its own concurrency (Little's law: queue / capacity x serviceMs). It records the
 * latency of every request (arrival to response) as the backend's users would see it. For the
 * adaptive concurrency test and benchmark.
 *
 * It runs in a process of its own (this file is the child's entry), so that the clients' work in
 * the test or benchmark process does not delay its timers and inflate its latency.
 */
import http from 'node:http';
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface PooledOrigin {
  url: string;
  /** requests served at a time now */
  readonly capacity: number;
  /** changes the capacity (fewer: new requests wait until enough have finished) */
  setCapacity(n: number): void;
  /** requests inside the backend now (served plus queued) and the latencies in ms (arrival to response) completed since the last call */
  take(): Promise<{ inFlight: number; latencies: number[] }>;
  close(): Promise<void>;
}

interface Pool {
  server: http.Server;
  capacity: number;
  busy: number;
  waiting: (() => void)[];
  done: number[];
}

async function listenPool(capacity: number, serviceMs: number): Promise<Pool> {
  const p: Pool = { server: null as unknown as http.Server, capacity, busy: 0, waiting: [], done: [] };
  const startNext = () => {
    while (p.busy < p.capacity && p.waiting.length !== 0) {
      p.busy++;
      p.waiting.shift()!();
    }
  };
  p.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const arrived = performance.now();
    req.resume();
    p.waiting.push(() => {
      setTimeout(() => {
        p.busy--;
        res.end('ok');
        p.done.push(performance.now() - arrived);
        startNext();
      }, serviceMs);
    });
    startNext();
  });
  await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
  return p;
}

function drain(p: Pool): { inFlight: number; latencies: number[] } {
  const latencies = p.done;
  p.done = [];
  return { inFlight: p.busy + p.waiting.length, latencies };
}

type ChildMsg = { type: 'listening'; port: number } | { type: 'taken'; inFlight: number; latencies: number[] };

/** spawnPooledOrigin starts the backend in a child process (this file as its entry). */
export async function spawnPooledOrigin(capacity: number, serviceMs: number): Promise<PooledOrigin> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve', String(capacity), String(serviceMs)], { stdio: 'inherit' });
  let waiter: ((m: ChildMsg | null) => void) | null = null;
  child.on('message', (m) => waiter?.(m as ChildMsg));
  child.on('exit', () => waiter?.(null));
  const next = () =>
    new Promise<ChildMsg>((resolve, reject) => {
      waiter = (m) => {
        waiter = null;
        if (m === null) reject(new Error('pooled origin exited'));
        else resolve(m);
      };
    });
  const first = await next();
  if (first.type !== 'listening') throw new Error('pooled origin did not start');
  let cap = capacity;
  return {
    url: `http://127.0.0.1:${first.port}`,
    get capacity() {
      return cap;
    },
    setCapacity: (n) => {
      cap = n;
      child.send({ type: 'capacity', n });
    },
    take: async () => {
      const reply = next();
      child.send({ type: 'take' });
      const m = await reply;
      return m.type === 'taken' ? { inFlight: m.inFlight, latencies: m.latencies } : { inFlight: 0, latencies: [] };
    },
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

if (process.argv[2] === '--serve' && process.send) {
  const p = await listenPool(Number(process.argv[3]), Number(process.argv[4]));
  process.on('message', (m: { type: string; n?: number }) => {
    if (m.type === 'capacity') p.capacity = m.n!;
    else if (m.type === 'take') process.send!({ type: 'taken', ...drain(p) });
  });
  process.on('SIGTERM', () => process.exit(0));
  process.send({ type: 'listening', port: (p.server.address() as AddressInfo).port });
}
