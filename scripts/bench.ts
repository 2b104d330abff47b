/**
 * `fulcrum bench` / `npm run bench`: the named workloads (scripts/bench/workloads.ts) direct to a
 * backend and through fulcrum, with autocannon driven from here. Prints a table, writes a JSON
 * file and a self-contained HTML report with latency histograms.
 *
 * The backend is a uWS process of its own (scripts/bench/backend.ts); fulcrum runs as the real
 * process tree (`fulcrum start`) with the worker count asked for. Its CPU time and peak RSS
 * (primary plus workers) come from /proc.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { intArg, parseOptions } from './bench/args.js';
import { runLoad, type LoadResult } from './bench/load.js';
import { loadAverage, machine, onInterrupt, ResourceMeter, startBackend, startFulcrum, type FulcrumProc } from './bench/proc.js';
import { fmtInt, fmtMiB, fmtMs, htmlReport, table, type ChartGroup } from './bench/report.js';
import { selectWorkloads, WORKLOADS, type Workload } from './bench/workloads.js';

const HELP = `usage: fulcrum bench [options]

Runs each workload direct to a backend and through fulcrum, and reports req/s, latency
percentiles, errors, and fulcrum's CPU and peak RSS.

  --workers N        fulcrum workers (default 1)
  --duration S       seconds measured per run (default 10)
  --warmup S         seconds of unmeasured load before each run (default 2)
  --quick            --duration 2 --warmup 1 (all workloads in under a minute)
  --workloads LIST   comma-separated names (default all): ${WORKLOADS.map((w) => w.name).join(', ')}
  --no-direct        skip the direct-to-backend runs
  --pin              pin fulcrum to CPU 0 and the backend and load generator to CPU 1 (taskset)
  --out DIR          where the JSON and HTML reports go (default bench-results)
  --profile DIR      run fulcrum's workers under node --cpu-prof, profiles written to DIR on exit
                     (summarise one with: node dist/scripts/bench/profile-summary.js FILE)
`;

export interface BenchOptions {
  workers: number;
  durationS: number;
  warmupS: number;
  workloads: Workload[];
  direct: boolean;
  pin: boolean;
  out: string;
  profileDir: string | null;
}

export interface BenchRun {
  workload: string;
  title: string;
  target: 'direct' | 'fulcrum';
  workers: number | null;
  load: LoadResult;
  /** fulcrum's processes (primary + workers); null for direct runs */
  proxy: { cpuUserS: number; cpuSystemS: number; cpuPct: number; cpuUsPerRequest: number; peakRssBytes: number } | null;
  loadAverage: string;
}

function parse(argv: string[]): BenchOptions | null {
  const o: BenchOptions = { workers: 1, durationS: 10, warmupS: 2, workloads: WORKLOADS, direct: true, pin: false, out: 'bench-results', profileDir: null };
  const ok = parseOptions(
    argv,
    {
      '--workers': (v) => (o.workers = intArg('--workers', v(), 1)),
      '--duration': (v) => (o.durationS = intArg('--duration', v(), 1)),
      '--warmup': (v) => (o.warmupS = intArg('--warmup', v(), 0)),
      '--quick': () => {
        o.durationS = 2;
        o.warmupS = 1;
      },
      '--workloads': (v) => (o.workloads = selectWorkloads(v())),
      '--no-direct': () => (o.direct = false),
      '--pin': () => (o.pin = true),
      '--out': (v) => (o.out = v()),
      '--profile': (v) => (o.profileDir = path.resolve(v())),
    },
    HELP,
  );
  return ok ? o : null;
}

/** Progress prints one updating line on a terminal, and nothing per second otherwise. */
class Progress {
  private readonly tty = process.stderr.isTTY === true;
  update(s: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${s}`);
  }
  done(s: string): void {
    process.stderr.write(this.tty ? `\r\x1b[K${s}\n` : `${s}\n`);
  }
}

export async function main(argv: string[]): Promise<void> {
  let o: BenchOptions | null;
  try {
    o = parse(argv);
  } catch (err) {
    process.stderr.write(`fulcrum bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (!o) return;
  const runs = await bench(o);
  writeReports(o, runs);
}

export async function bench(o: BenchOptions): Promise<BenchRun[]> {
  const cpusFulcrum = o.pin ? '0' : null;
  const cpusOther = o.pin ? '1' : null;
  if (o.pin) {
    try {
      execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
    } catch {
      process.stderr.write('fulcrum bench: --pin needs taskset and two CPUs; running unpinned\n');
    }
  }
  const backend = await startBackend(cpusOther);
  const direct = `http://127.0.0.1:${backend.port}`;
  const fulcrums = new Map<Workload['fulcrumConfig'] | undefined, FulcrumProc>();
  const stopAll = async () => {
    for (const f of fulcrums.values()) await f.stop();
    await backend.stop();
  };
  const unregister = onInterrupt(stopAll);
  const runs: BenchRun[] = [];
  const progress = new Progress();
  const plan = o.workloads.flatMap((w) => [...(o.direct && w.direct !== false ? [[w, 'direct'] as const] : []), [w, 'fulcrum'] as const]);
  const total = (o.warmupS + o.durationS) * plan.length;
  process.stderr.write(
    `fulcrum bench: ${plan.length} runs of ${o.durationS} s (+${o.warmupS} s warm-up), about ${Math.ceil(total / 60)} min; fulcrum with ${o.workers} worker${o.workers === 1 ? '' : 's'}; load ${loadAverage()}\n`,
  );
  try {
    let k = 0;
    for (const [w, target] of plan) {
      k++;
      let url = direct;
      let meter: ResourceMeter | null = null;
      if (target === 'fulcrum') {
        let f = fulcrums.get(w.fulcrumConfig);
        if (!f) {
          const env = o.profileDir ? { FULCRUM_WORKER_NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${o.profileDir}` } : undefined;
          f = await startFulcrum(backend.port, o.workers, { cpus: cpusFulcrum, config: w.fulcrumConfig, env });
          fulcrums.set(w.fulcrumConfig, f);
        }
        url = `http://127.0.0.1:${f.port}`;
        const fp = f;
        meter = new ResourceMeter(() => fp.pids());
      }
      const label = `[${k}/${plan.length}] ${w.name} ${target === 'direct' ? 'direct' : 'via fulcrum'}`;
      if (o.warmupS > 0) {
        progress.update(`${label}: warming up`);
        await (w.run ?? runLoad)({ url, workload: w, durationS: o.warmupS });
      }
      meter?.start();
      const load = await (w.run ?? runLoad)({
        url,
        workload: w,
        durationS: o.durationS,
        onTick: (n, s) => progress.update(`${label}: ${s}/${o.durationS} s, ${fmtInt(n / s)} req/s`),
      });
      const res = meter?.stop() ?? null;
      const run: BenchRun = {
        workload: w.name,
        title: w.title,
        target,
        workers: target === 'fulcrum' ? o.workers : null,
        load,
        proxy: res && { ...res, cpuUsPerRequest: load.requests ? ((res.cpuUserS + res.cpuSystemS) / load.requests) * 1e6 : 0 },
        loadAverage: loadAverage(),
      };
      runs.push(run);
      progress.done(`${label}: ${fmtInt(load.rps)} req/s, p99 ${fmtMs(load.latencyUs.p99)} ms, ${load.errors} errors`);
    }
  } finally {
    unregister();
    await stopAll();
  }
  return runs;
}

const HEAD = ['workload', 'target', 'req/s', 'vs direct', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'CPU %', 'CPU µs/req', 'peak RSS MiB'];

export function rows(runs: BenchRun[]): string[][] {
  return runs.map((r) => {
    const d = runs.find((x) => x.workload === r.workload && x.target === 'direct');
    const l = r.load;
    return [
      r.title,
      r.target === 'direct' ? 'direct' : `fulcrum (${r.workers}w)`,
      fmtInt(l.rps),
      d && r !== d ? (l.rps / d.load.rps).toFixed(2) : '-',
      fmtMs(l.latencyUs.p50),
      fmtMs(l.latencyUs.p99),
      fmtMs(l.latencyUs.p999),
      String(l.errors),
      r.proxy ? r.proxy.cpuPct.toFixed(0) : '-',
      r.proxy ? r.proxy.cpuUsPerRequest.toFixed(1) : '-',
      r.proxy ? fmtMiB(r.proxy.peakRssBytes) : '-',
    ];
  });
}

function writeReports(o: BenchOptions, runs: BenchRun[]): void {
  const m = machine();
  const r = rows(runs);
  process.stdout.write('\n' + table(HEAD, r));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, `bench-${stamp}`);
  const meta = { date: new Date().toISOString(), machine: m, options: { ...o, workloads: o.workloads.map((w) => w.name) } };
  writeFileSync(`${base}.json`, JSON.stringify({ ...meta, runs }, null, 2) + '\n');
  const groups: ChartGroup[] = o.workloads.map((w) => ({
    title: w.title,
    series: runs
      .filter((x) => x.workload === w.name)
      .map((x) => ({ label: x.target === 'direct' ? 'direct' : `fulcrum (${x.workers}w)`, curve: x.load.curve, bins: x.load.bins })),
  }));
  const notes = [
    `${meta.date}: ${m.cpu}, ${m.cores} CPUs, ${m.memGiB} GiB, ${m.kernel}, Node ${m.node}; load average at the end ${m.load}.`,
    `fulcrum with ${o.workers} worker(s); ${o.durationS} s per run after ${o.warmupS} s of warm-up; autocannon in the bench process${o.pin ? ', fulcrum pinned to CPU 0, backend and load generator to CPU 1' : ''}. CPU and RSS are fulcrum's (primary and workers).`,
  ];
  writeFileSync(`${base}.html`, htmlReport('fulcrum bench', notes, HEAD, r, groups));
  process.stdout.write(`\nload average ${m.load}\nreports: ${base}.json, ${base}.html\n`);
}
