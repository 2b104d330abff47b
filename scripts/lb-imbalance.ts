/**
 * Measures how evenly a load-aware policy (least-connections by default) spreads in-flight
 * requests over two backends (one answers in 100 ms, the other in 10 ms) with 2 workers, with
 * the cluster-wide view (sharedInFlight: true, the default) and with per-worker counting
 * (sharedInFlight: false).
 *
 *   npm run build && node dist/scripts/lb-imbalance.js [connections=4,16] [seconds=4] [rounds=1]
 *     [--policy=least-connections] [--split=any|odd|even] [--json=file] [--verbose]
 *
 * The backends sample their own in-flight count every 5 ms. Two numbers per mode: the ratio of
 * the time-averaged in-flight counts (max/min; 1.00 is perfect, and about 1.1 is the floor here
 * because a 10 ms request spends a larger share of its time in the proxy and the client than a
 * 100 ms one), and the share of samples where one backend had 2 or more requests more than the
 * other (moments of imbalance, what a herd produces).
 *
 * The kernel spreads the client connections over the workers by hash (SO_REUSEPORT), so an uneven
 * spread (3 and 1 of 4) is common and is what per-worker counting cannot balance. To compare the
 * modes on the same spread, each round runs one fulcrum and one set of connections and switches
 * the mode by a reload (no connection is dropped), per-worker and cluster-wide alternating in
 * order; rounds open new connections. The numbers are pooled over the rounds. --split=odd keeps
 * only spreads where each worker holds an odd number of connections (3/1, 9/7: the case per-worker
 * counting cannot even out), --split=even only even ones (2/2, 10/6: where it is at its best); the
 * test uses odd, for a comparison that does not depend on how the kernel happened to spread them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { startFulcrum, type Fulcrum } from '../test/helpers/fulcrum.js';

interface Backend {
  url: string;
  inFlight: number;
  server: http.Server;
}

/** ImbalanceResult is one mode at one connection count, pooled over the rounds. */
interface ImbalanceResult {
  mode: 'per-worker' | 'cluster-wide';
  /** per round: the client connections each worker holds (from ss; [] when unknown), skewed share and ratio */
  perRound: { split: number[]; skewed: number; ratio: number }[];
  policy: string;
  connections: number;
  rounds: number;
  /** time-averaged in-flight count of the slow and the fast backend */
  slow: number;
  fast: number;
  /** max/min of the two */
  ratio: number;
  /** share of samples with |slow - fast| >= 2 (0..1) */
  skewed: number;
  requestsPerSecond: number;
}

async function backend(delayMs: number): Promise<Backend> {
  const b = { inFlight: 0 } as Backend;
  b.server = http.createServer({ keepAliveTimeout: 30_000 }, (_req, res) => {
    b.inFlight++;
    setTimeout(() => {
      b.inFlight--;
      res.end('ok');
    }, delayMs);
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.url = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  return b;
}

interface Tally {
  slowSum: number;
  fastSum: number;
  skewed: number;
  samples: number;
  requests: number;
  ms: number;
}

const newTally = (): Tally => ({ slowSum: 0, fastSum: 0, skewed: 0, samples: 0, requests: 0, ms: 0 });

/** SETTLE_MS: after a mode switch, time for the reload and for the running means to follow */
const SETTLE_MS = 1200;
/** how often --split opens the connections again before it takes what it got */
const MAX_SPLIT_ATTEMPTS = 40;

/** which spreads of the connections over the 2 workers a round accepts (odd: 3/1, 9/7; even: 2/2, 10/6) */
type Split = 'any' | 'odd' | 'even';

/** measureImbalance runs `rounds` rounds at one connection count and returns both modes. */
async function measureImbalance(conns: number, seconds: number, rounds: number, policy: string, want: Split): Promise<ImbalanceResult[]> {
  const slow = await backend(100);
  const fast = await backend(10);
  const rounds_: { split: number[]; tallies: Record<'per-worker' | 'cluster-wide', Tally> }[] = [];
  const config = (shared: boolean) => ({
    workers: 2,
    upstreams: { app: { balance: policy, sharedInFlight: shared, servers: [{ url: slow.url }, { url: fast.url }] } },
    routes: [{ upstream: 'app' }],
  });
  try {
    for (let r = 0; r < rounds; r++) {
      // alternate which mode goes first, so that a drift in the machine's load cancels out
      const order: ('per-worker' | 'cluster-wide')[] = r % 2 === 0 ? ['per-worker', 'cluster-wide'] : ['cluster-wide', 'per-worker'];
      const f = await startFulcrum(config(order[0] === 'cluster-wide'));
      const tallies = { 'per-worker': newTally(), 'cluster-wide': newTally() };
      try {
        const split = await round(f, conns, seconds, order, slow, fast, tallies, config, want);
        rounds_.push({ split, tallies });
      } finally {
        await f.stop();
      }
    }
  } finally {
    slow.server.close();
    fast.server.close();
    slow.server.closeAllConnections();
    fast.server.closeAllConnections();
  }
  return (['per-worker', 'cluster-wide'] as const).map((mode) => {
    const t = newTally();
    for (const r of rounds_) for (const k of Object.keys(t) as (keyof Tally)[]) t[k] += r.tallies[mode][k];
    const s = t.slowSum / t.samples;
    const fa = t.fastSum / t.samples;
    return {
      mode,
      perRound: rounds_.map((r) => ({ split: r.split, skewed: r.tallies[mode].skewed / r.tallies[mode].samples, ratio: ratioOf(r.tallies[mode]) })),
      policy,
      connections: conns,
      rounds,
      slow: s,
      fast: fa,
      ratio: Math.max(s, fa) / Math.min(s, fa),
      skewed: t.skewed / t.samples,
      requestsPerSecond: (t.requests * 1000) / t.ms,
    };
  });
}

function ratioOf(t: Tally): number {
  return Math.max(t.slowSum, t.fastSum) / Math.min(t.slowSum, t.fastSum);
}

/**
 * splitOf counts the client connections each worker holds: the established sockets on fulcrum's
 * port (/proc/net/tcp, tcp6) owned by each worker's file descriptors ([] when /proc is not there).
 */
function splitOf(f: Fulcrum): number[] {
  try {
    const port = f.port.toString(16).toUpperCase().padStart(4, '0');
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        // local address "0100007F:1F90", state 01 = ESTABLISHED, inode in column 10
        if (cols.length > 9 && cols[1]!.endsWith(`:${port}`) && cols[3] === '01') inodes.add(cols[9]!);
      }
    }
    return f
      .workerPids()
      .map((pid) => {
        let n = 0;
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${pid}/fd/${fd}`));
          if (m && inodes.has(m[1]!)) n++;
        }
        return n;
      })
      .sort((a, b) => b - a);
  } catch {
    return [];
  }
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

async function round(
  f: Fulcrum,
  conns: number,
  seconds: number,
  order: ('per-worker' | 'cluster-wide')[],
  slow: Backend,
  fast: Backend,
  tallies: Record<'per-worker' | 'cluster-wide', Tally>,
  config: (shared: boolean) => object,
  want: Split,
): Promise<number[]> {
  let agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const get = () =>
    new Promise<void>((resolve) => {
      http.get(`${f.url}/`, { agent }, (res) => res.resume().on('end', resolve)).on('error', () => resolve());
    });
  // open the connections (the kernel assigns each to a worker for its lifetime); with --split,
  // open them again until the workers hold an odd (or even) number each
  let split: number[] = [];
  for (let attempt = 0; attempt < MAX_SPLIT_ATTEMPTS; attempt++) {
    if (attempt > 0) {
      agent.destroy();
      agent = new http.Agent({ keepAlive: true, maxSockets: conns });
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(Array.from({ length: conns }, get));
    split = splitOf(f);
    if (want === 'any' || split.length === 0 || split[0]! % 2 === (want === 'odd' ? 1 : 0)) break;
  }
  let tally: Tally | null = null;
  let stop = false;
  const loops = Array.from({ length: conns }, async () => {
    while (!stop) {
      await get();
      if (tally) tally.requests++;
    }
  });
  const sampler = setInterval(() => {
    if (!tally) return;
    tally.slowSum += slow.inFlight;
    tally.fastSum += fast.inFlight;
    if (Math.abs(slow.inFlight - fast.inFlight) >= 2) tally.skewed++;
    tally.samples++;
  }, 5);
  try {
    for (let i = 0; i < order.length; i++) {
      const mode = order[i]!;
      if (i > 0) {
        writeFileSync(f.configFile, JSON.stringify({ ...config(mode === 'cluster-wide'), ...portsOf(f) }));
        await post(`${f.adminUrl}/reload`);
      }
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const t = tallies[mode];
      const startedAt = Date.now();
      tally = t;
      await new Promise((r) => setTimeout(r, seconds * 1000));
      tally = null;
      t.ms += Date.now() - startedAt;
    }
  } finally {
    clearInterval(sampler);
    stop = true;
    await Promise.all(loops);
    agent.destroy();
  }
  return split;
}

function portsOf(f: Fulcrum): object {
  return { listen: { host: '127.0.0.1', port: f.port }, admin: { host: '127.0.0.1', port: Number(new URL(f.adminUrl).port) } };
}

function post(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume().on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('error', reject).end();
  });
}

/** formatRow is one line of the script's output. */
function formatRow(r: ImbalanceResult): string {
  return `${r.mode.padEnd(12)}  conns=${String(r.connections).padStart(2)}  in-flight slow=${r.slow.toFixed(2)} fast=${r.fast.toFixed(2)}  max/min=${r.ratio.toFixed(2)}  |diff|>=2 in ${(100 * r.skewed).toFixed(0).padStart(2)}% of samples  req/s=${r.requestsPerSecond.toFixed(0)}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const pos = args.filter((a) => !a.startsWith('--'));
  const connList = (pos[0] ?? '4,16').split(',').map(Number);
  const seconds = Number(pos[1] ?? 4);
  const rounds = Number(pos[2] ?? 1);
  const policies = (opt('policy') ?? 'least-connections').split(',');
  const want = (opt('split') ?? 'any') as Split;
  if (!['any', 'odd', 'even'].includes(want)) throw new Error('--split is any, odd or even');
  const out: ImbalanceResult[] = [];
  for (const policy of policies) {
    if (policies.length > 1) console.log(policy);
    for (const c of connList) {
      const rs = await measureImbalance(c, seconds, rounds, policy, want);
      for (const r of rs) console.log(formatRow(r));
      if (args.includes('--verbose'))
        for (let i = 0; i < rounds; i++)
          console.log(
            `  round ${i + 1}: connections per worker ${rs[0]!.perRound[i]!.split.join('/') || '?'}  ` +
              rs.map((r) => `${r.mode} ${r.perRound[i]!.ratio.toFixed(2)} ${(100 * r.perRound[i]!.skewed).toFixed(0)}%`).join('  '),
          );
      out.push(...rs);
    }
  }
  const json = opt('json');
  if (json) writeFileSync(json, JSON.stringify(out, null, 2) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
