/**
 * native-bench: the bench workloads direct to the backend, through fulcrum, nginx and HAProxy,
 * with equal resources, alternating runs (A B C D, A B C D, ...), medians with min-max, and the
 * ratio of fulcrum to each peer. Answers "how much slower or faster than nginx is this, here?".
 *
 *   npm run bench:native -- [--duration 5] [--rounds 3] [--workloads get-100b,...] [--workers 1]
 *
 * Equal resources: one worker each (nginx worker_processes, HAProxy nbthread, fulcrum workers);
 * with one worker, every proxy is pinned to CPU 0 and the backend and load generator to CPU 1
 * (taskset). The load generator is wrk when installed (it costs less CPU than autocannon), else
 * autocannon in its own process. nginx, HAProxy and wrk are Debian packages: when one is
 * missing, it is installed with apt-get if we can (root, apt-get present), else its runs are
 * skipped with a message.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { intArg, parseOptions } from '../scripts/bench/args.js';
import { requestBody } from '../scripts/bench/load.js';
import { cpuSeconds, freePort, hasCommand, launch, loadAverage, machine, onInterrupt, pinned, ROOT, startBackend, startFulcrum, type Proc } from '../scripts/bench/proc.js';
import { fmtInt, fmtMs, markdownTable, table } from '../scripts/bench/report.js';
import { manyClients, selectWorkloads, withIdle, WORKLOADS, type Workload } from '../scripts/bench/workloads.js';
import { haproxyConf, nginxConf, wrkScript } from './configs.js';

const HELP = `usage: npm run bench:native -- [options]

  --duration S       seconds per measured run (default 5)
  --warmup S         seconds of unmeasured load before each run (default 1)
  --rounds N         alternations (default 3, at least 1)
  --workloads LIST   comma-separated (default all): ${WORKLOADS.filter((w) => w.native !== false).map((w) => w.name).join(', ')}
  --targets LIST     any of direct,fulcrum,nginx,haproxy (default all)
  --workers N        workers of every proxy (default 1; with 1, proxies are pinned to CPU 0)
  --load-gen NAME    wrk or autocannon (default: wrk when available)
  --no-install       never run apt-get; skip what is missing
  --upstream-idle N  idle upstream connections kept per worker by nginx (keepalive) and fulcrum
                     (keepAlive.maxIdle) (default 1024: no reconnects at 1,000 clients)
  --baseline DIR     also run the fulcrum of another built checkout (A/B of a change), as "baseline"
  --out DIR          where the JSON and Markdown results go (default bench-results)
`;

type Target = 'direct' | 'fulcrum' | 'nginx' | 'haproxy' | 'baseline';
const ALL_TARGETS: Target[] = ['direct', 'fulcrum', 'nginx', 'haproxy'];

interface Options {
  durationS: number;
  warmupS: number;
  rounds: number;
  workloads: Workload[];
  targets: Target[];
  workers: number;
  loadGen: 'wrk' | 'autocannon' | null;
  install: boolean;
  out: string;
  baseline: string | null;
  upstreamIdle: number;
}

interface Sample {
  rps: number;
  errors: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  /** CPU time of the proxy's processes per request (null for direct) */
  cpuUsPerRequest: number | null;
  /** the user and system parts of it */
  cpuUserUsPerRequest: number | null;
  cpuSystemUsPerRequest: number | null;
  /** minor page faults of the proxy's processes per request */
  faultsPerRequest: number | null;
  load: string;
}

function parse(argv: string[]): Options | null {
  const o: Options = { durationS: 5, warmupS: 1, rounds: 3, workloads: WORKLOADS.filter((w) => w.native !== false && !w.run), targets: ALL_TARGETS, workers: 1, loadGen: null, install: true, out: 'bench-results', baseline: null, upstreamIdle: 1024 };
  const ok = parseOptions(
    argv,
    {
      '--duration': (v) => (o.durationS = intArg('--duration', v(), 1)),
      '--warmup': (v) => (o.warmupS = intArg('--warmup', v(), 0)),
      '--rounds': (v) => (o.rounds = intArg('--rounds', v(), 1)),
      '--workloads': (v) => (o.workloads = selectWorkloads(v())),
      '--targets': (v) => {
        const t = v().split(',').filter(Boolean);
        for (const x of t) if (!ALL_TARGETS.includes(x as Target)) throw new Error(`unknown target ${JSON.stringify(x)}; known: ${ALL_TARGETS.join(', ')}`);
        o.targets = t as Target[];
      },
      '--workers': (v) => (o.workers = intArg('--workers', v(), 1)),
      '--load-gen': (v) => {
        const g = v();
        if (g !== 'wrk' && g !== 'autocannon') throw new Error(`--load-gen is wrk or autocannon, got ${JSON.stringify(g)}`);
        o.loadGen = g;
      },
      '--upstream-idle': (v) => (o.upstreamIdle = intArg('--upstream-idle', v(), 0)),
      '--baseline': (v) => (o.baseline = path.resolve(v())),
      '--no-install': () => (o.install = false),
      '--out': (v) => (o.out = v()),
    },
    HELP,
  );
  return ok ? o : null;
}

const say = (s: string) => process.stderr.write(`native-bench: ${s}\n`);

let aptUpdated = false;
/** ensure returns true when `cmd` exists, installing Debian package `pkg` when allowed. */
function ensure(cmd: string, pkg: string, install: boolean): boolean {
  if (hasCommand(cmd)) return true;
  const canApt = install && hasCommand('apt-get') && process.getuid?.() === 0;
  if (!canApt) {
    say(`${cmd} not found and cannot be installed here (${install ? 'needs root and apt-get' : '--no-install'}): skipping it. Install the Debian package "${pkg}" to include it.`);
    return false;
  }
  say(`${cmd} not found: installing the Debian package "${pkg}" with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const tryInstall = () => execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env });
  try {
    tryInstall();
  } catch {
    try {
      if (!aptUpdated) execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env });
      aptUpdated = true;
      tryInstall();
    } catch (err) {
      say(`apt-get could not install ${pkg} (${(err as Error).message.split('\n')[0]}): skipping ${cmd}`);
      return false;
    }
  }
  if (!hasCommand(cmd)) {
    say(`${pkg} installed but ${cmd} is still not on PATH: skipping it`);
    return false;
  }
  return true;
}

function findBinary(name: string): string {
  for (const d of ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin']) {
    try {
      execFileSync('test', ['-x', path.join(d, name)]);
      return path.join(d, name);
    } catch {
      /* next */
    }
  }
  return name;
}

interface Running {
  target: Target;
  port: number;
  proc: Proc | null;
  pids: () => number[];
  version: string;
}

function childTree(pid: number): number[] {
  try {
    const kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    return [pid, ...kids.flatMap(childTree)];
  } catch {
    return [pid];
  }
}

async function startNginx(dir: string, backendPort: number, workers: number, idle: number, cpus: string | null): Promise<Running> {
  const port = await freePort();
  const bin = findBinary('nginx');
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, port, backendPort, workers, idle));
  const [cmd, args] = pinned(cpus, bin, ['-p', dir, '-c', conf]);
  const proc = await launch(cmd, args, () => portOpen(port), { what: 'nginx' });
  return { target: 'nginx', port, proc, pids: () => childTree(proc.pid), version: versionOf(bin, ['-v']) };
}

async function startHaproxy(dir: string, backendPort: number, workers: number, cpus: string | null): Promise<Running> {
  const port = await freePort();
  const bin = findBinary('haproxy');
  const conf = path.join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConf(port, backendPort, workers));
  const [cmd, args] = pinned(cpus, bin, ['-db', '-f', conf]);
  const proc = await launch(cmd, args, () => portOpen(port), { what: 'haproxy' });
  return { target: 'haproxy', port, proc, pids: () => childTree(proc.pid), version: versionOf(bin, ['-v']).split('\n')[0] ?? '' };
}

function versionOf(bin: string, args: string[]): string {
  try {
    const r = execFileSync('sh', ['-c', `"${bin}" ${args.join(' ')} 2>&1`], { encoding: 'utf8' });
    return r.trim();
  } catch {
    return '';
  }
}

const openPorts = new Set<number>();
function portOpen(port: number): boolean {
  // cheap synchronous check through /proc/net/tcp: a LISTEN socket on 127.0.0.1:port
  if (openPorts.has(port)) return true;
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    const tcp = readFileSync('/proc/net/tcp', 'utf8');
    if (tcp.split('\n').some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) {
      openPorts.add(port);
      return true;
    }
  } catch {
    /* not yet */
  }
  return false;
}

interface GenResult {
  requests: number;
  durationS: number;
  errors: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

function runGen(gen: 'wrk' | 'autocannon', url: string, w: Workload, durationS: number, cpus: string | null, dir: string): Promise<GenResult> {
  let cmd: string;
  let args: string[];
  if (gen === 'wrk') {
    const script = path.join(dir, `${w.name}.lua`);
    writeFileSync(script, wrkScript(w.method, w.bodyBytes ?? 0));
    [cmd, args] = pinned(cpus, 'wrk', ['-t1', `-c${w.connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', script, url + w.path]);
  } else {
    const ac = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
    const extra: string[] = [];
    if (w.bodyBytes) {
      const bodyFile = path.join(dir, `${w.name}.body`);
      writeFileSync(bodyFile, requestBody(w)!);
      extra.push('-m', w.method, '-i', bodyFile, '-H', 'content-type=application/octet-stream');
    }
    [cmd, args] = pinned(cpus, process.execPath, [ac, '-j', '-c', String(w.connections), '-d', String(durationS), '-t', '10', ...extra, url + w.path]);
  }
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('exit', (code) => {
      try {
        if (gen === 'wrk') {
          const line = out.split('\n').find((l) => l.startsWith('JSON '));
          if (!line) throw new Error(`wrk printed no result (exit ${code}):\n${out}${err}`);
          const j = JSON.parse(line.slice(5)) as { requests: number; durationUs: number; errors: number; p50: number; p99: number; p999: number };
          // wrk counts non-2xx/3xx statuses in errors.status
          resolve({ requests: j.requests, durationS: j.durationUs / 1e6, errors: j.errors, p50Us: j.p50, p99Us: j.p99, p999Us: j.p999 });
        } else {
          const j = JSON.parse(out) as { requests: { total: number }; duration: number; errors: number; timeouts: number; non2xx: number; latency: Record<string, number> };
          resolve({ requests: j.requests.total, durationS: j.duration, errors: j.errors + j.timeouts + j.non2xx, p50Us: j.latency.p50! * 1000, p99Us: j.latency.p99! * 1000, p999Us: (j.latency.p99_9 ?? 0) * 1000 });
        }
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function main(argv: string[]): Promise<void> {
  let o: Options | null;
  try {
    o = parse(argv);
  } catch (err) {
    say((err as Error).message);
    process.exit(2);
  }
  if (!o) return;

  const pin = o.workers === 1 && os.availableParallelism() >= 2 && hasCommand('taskset');
  if (!pin) say(o.workers === 1 ? 'taskset or a second CPU missing: running unpinned' : `${o.workers} workers each: proxies are not pinned`);
  const cpuProxy = pin ? '0' : null;
  const cpuOther = pin ? '1' : null;

  let gen = o.loadGen;
  if (gen === null) gen = ensure('wrk', 'wrk', o.install) ? 'wrk' : 'autocannon';
  else if (gen === 'wrk' && !ensure('wrk', 'wrk', o.install)) {
    say('wrk asked for but not available');
    process.exit(1);
  }
  if (o.baseline && !o.targets.includes('baseline')) o.targets = [...o.targets.filter((t) => t !== 'fulcrum'), 'fulcrum', 'baseline'];
  const targets = o.targets.filter((t) => (t === 'nginx' ? ensure('nginx', 'nginx', o!.install) : t === 'haproxy' ? ensure('haproxy', 'haproxy', o!.install) : true));

  const dir = mkdtempSync(path.join(os.tmpdir(), 'native-bench-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d));
  const backend = await startBackend(cpuOther);
  const running = new Map<Target, Running>();
  const stopAll = async () => {
    for (const r of running.values()) await r.proc?.stop();
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(stopAll);
  const samples = new Map<string, Sample[]>(); // `${workload}/${target}`
  const m = machine();
  try {
    running.set('direct', { target: 'direct', port: backend.port, proc: null, pids: () => [], version: 'uWS backend' });
    for (const t of targets) {
      if (t === 'fulcrum') {
        const f = await startFulcrum(backend.port, o.workers, { cpus: cpuProxy, config: manyClients(o.upstreamIdle) });
        running.set('fulcrum', { target: t, port: f.port, proc: f, pids: f.pids, version: 'fulcrum (this checkout)' });
      } else if (t === 'baseline' && o.baseline) {
        const f = await startFulcrum(backend.port, o.workers, { cpus: cpuProxy, config: withIdle(o.upstreamIdle), bin: path.join(o.baseline, 'bin', 'fulcrum.js') });
        running.set('baseline', { target: t, port: f.port, proc: f, pids: f.pids, version: `fulcrum at ${o.baseline}` });
      } else if (t === 'nginx') running.set(t, await startNginx(dir, backend.port, o.workers, o.upstreamIdle, cpuProxy));
      else if (t === 'haproxy') running.set(t, await startHaproxy(dir, backend.port, o.workers, cpuProxy));
    }
    const order = targets.filter((t) => running.has(t));
    const total = o.workloads.length * o.rounds * order.length;
    say(`${total} runs of ${o.durationS} s (+${o.warmupS} s warm-up) with ${gen}, ${order.join(' ')} alternating, ${o.rounds} rounds; about ${Math.ceil((total * (o.durationS + o.warmupS + 0.5)) / 60)} min; load ${loadAverage()}`);
    let k = 0;
    for (const w of o.workloads) {
      for (let r = 0; r < o.rounds; r++) {
        for (const t of order) {
          k++;
          const run = running.get(t)!;
          const url = `http://127.0.0.1:${run.port}`;
          if (o.warmupS > 0) await runGen(gen, url, w, o.warmupS, cpuOther, dir);
          const pids = run.pids();
          const c0 = cpuSeconds(pids);
          const g = await runGen(gen, url, w, o.durationS, cpuOther, dir);
          const c1 = cpuSeconds(pids);
          const cpu = c1.user + c1.system - c0.user - c0.system;
          const s: Sample = {
            rps: g.requests / g.durationS,
            errors: g.errors,
            p50Us: g.p50Us,
            p99Us: g.p99Us,
            p999Us: g.p999Us,
            cpuUsPerRequest: t === 'direct' || !g.requests ? null : (cpu / g.requests) * 1e6,
            cpuUserUsPerRequest: t === 'direct' || !g.requests ? null : ((c1.user - c0.user) / g.requests) * 1e6,
            cpuSystemUsPerRequest: t === 'direct' || !g.requests ? null : ((c1.system - c0.system) / g.requests) * 1e6,
            faultsPerRequest: t === 'direct' || !g.requests ? null : (c1.minorFaults - c0.minorFaults) / g.requests,
            load: loadAverage(),
          };
          const key = `${w.name}/${t}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          say(`[${k}/${total}] ${w.name} round ${r + 1} ${t}: ${fmtInt(s.rps)} req/s, p99 ${fmtMs(s.p99Us)} ms, ${s.errors} errors${s.cpuUsPerRequest !== null ? `, ${s.cpuUsPerRequest.toFixed(1)} µs CPU/req, ${s.faultsPerRequest!.toFixed(2)} faults/req` : ''}`);
        }
      }
    }
    const versions = Object.fromEntries([...running.values()].map((r) => [r.target, r.version]));
    report(o, gen, pin, order, samples, m, versions);
  } finally {
    unregister();
    await stopAll();
  }
}

function report(o: Options, gen: string, pin: boolean, order: Target[], samples: Map<string, Sample[]>, m: ReturnType<typeof machine>, versions: Record<string, string>): void {
  const peers = order.filter((t) => t !== 'direct' && t !== 'fulcrum');
  const rpsCell = (xs: Sample[] | undefined) => {
    if (!xs?.length) return '-';
    const r = xs.map((x) => x.rps);
    return `${fmtInt(median(r))} (${fmtInt(Math.min(...r))}–${fmtInt(Math.max(...r))})`;
  };
  const head1 = ['workload', ...order.map((t) => `${t} req/s`), ...(order.includes('fulcrum') ? peers.map((p) => `fulcrum ÷ ${p}`) : []), ...(order.includes('fulcrum') && order.includes('direct') ? ['fulcrum ÷ direct'] : [])];
  const rows1 = o.workloads.map((w) => {
    const get = (t: Target) => samples.get(`${w.name}/${t}`);
    const med = (t: Target) => {
      const xs = get(t);
      return xs?.length ? median(xs.map((x) => x.rps)) : NaN;
    };
    const f = med('fulcrum');
    return [
      w.title,
      ...order.map((t) => rpsCell(get(t))),
      ...(order.includes('fulcrum') ? peers.map((p) => (f / med(p)).toFixed(2)) : []),
      ...(order.includes('fulcrum') && order.includes('direct') ? [(f / med('direct')).toFixed(2)] : []),
    ];
  });
  const head2 = ['workload', ...order.map((t) => `${t} p50 / p99 / p99.9 ms`), ...order.filter((t) => t !== 'direct').map((t) => `${t} CPU µs/req (user+sys)`), 'errors'];
  const rows2 = o.workloads.map((w) => {
    const get = (t: Target) => samples.get(`${w.name}/${t}`) ?? [];
    const lat = (t: Target) => {
      const xs = get(t);
      if (!xs.length) return '-';
      return `${fmtMs(median(xs.map((x) => x.p50Us)))} / ${fmtMs(median(xs.map((x) => x.p99Us)))} / ${fmtMs(median(xs.map((x) => x.p999Us)))}`;
    };
    const cpu = (t: Target) => {
      const xs = get(t);
      if (!xs.length) return '-';
      const med = (f: (x: Sample) => number | null) => median(xs.map((x) => f(x) ?? NaN)).toFixed(1);
      return `${med((x) => x.cpuUsPerRequest)} (${med((x) => x.cpuUserUsPerRequest)}+${med((x) => x.cpuSystemUsPerRequest)})`;
    };
    const errors = order.map((t) => get(t).reduce((a, x) => a + x.errors, 0));
    return [w.title, ...order.map(lat), ...order.filter((t) => t !== 'direct').map(cpu), errors.some((e) => e > 0) ? order.map((t, i) => `${t} ${errors[i]}`).join(', ') : '0'];
  });
  const loads = [...samples.values()].flat().map((s) => s.load);
  const setup = [
    `date: ${new Date().toISOString()}`,
    `machine: ${m.cpu}, ${m.cores} CPUs, ${m.memGiB} GiB, ${m.kernel}, Node ${m.node}`,
    `versions: ${Object.entries(versions).map(([k, v]) => `${k}: ${v}`).join('; ')}`,
    `upstream keep-alive: ${o.upstreamIdle} idle connections kept (nginx keepalive, fulcrum keepAlive.maxIdle; HAProxy http-reuse always, unlimited); fulcrum limits.maxConnectionsPerClient 0 (no per-client cap, as the peers)`,
    `load generator: ${gen}, one thread; ${o.rounds} alternating rounds of ${o.durationS} s (+${o.warmupS} s warm-up) per target and workload; ${o.workers} worker(s) per proxy${pin ? '; proxies pinned to CPU 0, backend and load generator to CPU 1' : ''}`,
    `load average (1, 5, 15 min) at the first and last run: ${loads[0]} / ${loads[loads.length - 1]}`,
  ];
  const text = `${setup.join('\n')}\n\nreq/s: median (min–max)\n${table(head1, rows1)}\nlatency (medians) and proxy CPU per request\n${table(head2, rows2)}`;
  process.stdout.write('\n' + text);
  const md = `${setup.map((s) => `- ${s}`).join('\n')}\n\nRequests per second, median (min–max) of ${o.rounds} runs:\n\n${markdownTable(head1, rows1)}\nLatency (medians of the runs' percentiles) and proxy CPU time per request:\n\n${markdownTable(head2, rows2)}`;
  mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, `native-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.json`, JSON.stringify({ setup, versions, options: { ...o, workloads: o.workloads.map((w) => w.name) }, samples: Object.fromEntries(samples) }, null, 2) + '\n');
  process.stdout.write(`\nresults: ${base}.md, ${base}.json\n`);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`native-bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
