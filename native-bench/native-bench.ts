/**
 * native-bench: the bench workloads direct to the backend, through fulcrum, nginx, HAProxy and
 * two Node peers (node:http + http-proxy, fastify + @fastify/http-proxy), with equal resources,
 * alternating runs (A B C D, A B C D, ...), medians with min-max, and the ratio of fulcrum to
 * each peer. Answers "how much slower or faster than nginx is this, here?".
 *
 *   npm run bench:native -- [--duration 5] [--rounds 3] [--workloads get-100b,...] [--workers 1]
 *
 * Equal resources: one worker each (nginx worker_processes, HAProxy nbthread, fulcrum workers,
 * one Node process per Node peer, node:cluster workers with more); with one worker, every proxy
 * is pinned to CPU 0 and the backend and load generator to CPU 1 (taskset). The load generator
 * is wrk when installed (it costs less CPU than autocannon), else autocannon in its own process;
 * a workload with a driver of its own (ws-echo) runs it in a process of its own
 * (scripts/bench/run-workload.ts). nginx, HAProxy and wrk are Debian packages: when one is
 * missing, it is installed with apt-get if we can (root, apt-get present), else its runs are
 * skipped with a message; the Node peers are dev dependencies (npm ci), skipped when missing.
 * Before the runs, each target answers each workload once and the answer is checked (status and
 * body size, or the echo's size), so that a misconfigured peer cannot win by answering errors.
 * The gzip workloads (Workload.encoding) run only on the targets that compress (fulcrum on either engine, and
 * nginx with `gzip on` at the same level); their answer must carry Content-Encoding: gzip and
 * decode to the expected size.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { requestBody, type LoadResult } from '../scripts/bench/load.js';
import {
  cpuSeconds,
  descendants,
  freePort,
  hasCommand,
  launch,
  loadAverage,
  machine,
  onInterrupt,
  pinned,
  ROOT,
  RUN_WORKLOAD_JS,
  startBackend,
  startFulcrum,
  type Proc,
} from '../scripts/bench/proc.js';
import { fmtInt, fmtMs, markdownTable, table } from '../scripts/bench/report.js';
import { manyClients, withIdle, type Workload } from '../scripts/bench/workloads.js';
import { checkWsEcho } from '../scripts/bench/ws-load.js';
import { haproxyConf, nginxConf, wrkScript } from './configs.js';
import { NODE_PEERS, parse, type NodePeer, type Options, type Target } from './options.js';

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

const say = (s: string) => process.stderr.write(`native-bench: ${s}\n`);

let aptUpdated = false;
/** ensure returns true when `cmd` exists, installing Debian package `pkg` when allowed. */
function ensure(cmd: string, pkg: string, install: boolean): boolean {
  if (hasCommand(cmd)) return true;
  const canApt = install && hasCommand('apt-get') && process.getuid?.() === 0;
  if (!canApt) {
    say(
      `${cmd} not found and cannot be installed here (${install ? 'needs root and apt-get' : '--no-install'}): skipping it. Install the Debian package "${pkg}" to include it.`,
    );
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
    const kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
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

const require = createRequire(import.meta.url);

/** the npm packages each Node peer needs (dev dependencies) */
const PEER_PACKAGES: Record<NodePeer, string[]> = {
  'http-proxy': ['http-proxy'],
  'fastify-proxy': ['fastify', '@fastify/http-proxy'],
  'uws-floor': [],
  'net-floor': [],
};

function packageVersion(pkg: string): string | null {
  try {
    const main = require.resolve(pkg);
    // the package.json of the package that holds `main`
    for (let d = path.dirname(main); d !== path.dirname(d); d = path.dirname(d)) {
      try {
        const j = JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (j.name === pkg) return j.version ?? '?';
      } catch {
        /* up */
      }
    }
    return '?';
  } catch {
    return null;
  }
}

/** nodePeerInstalled says whether the peer's packages resolve, and why it is skipped when not. */
function nodePeerInstalled(peer: NodePeer): boolean {
  const missing = PEER_PACKAGES[peer].filter((p) => packageVersion(p) === null);
  if (missing.length)
    say(
      `${peer}: the npm package${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not installed (dev dependencies: run npm ci without --omit=dev): skipping it`,
    );
  return missing.length === 0;
}

async function startNodePeer(peer: NodePeer, backendPort: number, workers: number, cpus: string | null): Promise<Running> {
  const port = await freePort();
  const script = path.join(ROOT, 'dist', 'native-bench', 'peers', `${peer}.js`);
  const [cmd, args] = pinned(cpus, process.execPath, [script, String(port), String(backendPort), String(workers)]);
  const proc = await launch(cmd, args, (out) => out.includes('listening'), { what: peer });
  const what =
    peer === 'uws-floor'
      ? 'bare uWS front + node:net keep-alive client (native-bench/peers/uws-floor.ts)'
      : peer === 'net-floor'
        ? "fulcrum's engine front + node:net keep-alive client (native-bench/peers/net-floor.ts)"
        : PEER_PACKAGES[peer].map((p) => `${p} ${packageVersion(p)}`).join(' + ');
  const version = what + ` on Node ${process.versions.node}${workers > 1 ? `, node:cluster with ${workers} workers` : ', one process'}`;
  return { target: peer, port, proc, pids: () => [proc.pid, ...descendants(proc.pid)], version };
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

/** checkHttp sends the workload's request once; an error message, or null when the answer is right. */
function checkHttp(url: string, w: Workload): Promise<string | null> {
  const body = requestBody(w);
  const headers: Record<string, string> = { ...w.headers };
  if (body) headers['content-type'] = 'application/octet-stream';
  return new Promise((resolve) => {
    const req = http.request(url + w.path, { method: w.method, headers, agent: false, timeout: 10_000 }, (res) => {
      if (w.encoding && res.headers['content-encoding'] !== w.encoding) {
        res.resume();
        return resolve(`Content-Encoding ${JSON.stringify(res.headers['content-encoding'] ?? null)}, expected ${w.encoding}`);
      }
      // a compressed answer is counted decoded
      const body = w.encoding ? res.pipe(zlib.createGunzip()) : res;
      let n = 0;
      body.on('data', (d: Buffer) => (n += d.length));
      body.on('end', () =>
        resolve(res.statusCode !== 200 ? `status ${res.statusCode}` : n !== w.responseBytes ? `a body of ${n} bytes, expected ${w.responseBytes}` : null),
      );
      body.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err) => resolve(err.message));
    req.end(body);
  });
}

/** checkAnswer checks one target's answer to one workload (HTTP status and body size, or the WebSocket echo). */
function checkAnswer(url: string, w: Workload): Promise<string | null> {
  return w.messageBytes !== undefined ? checkWsEcho(url, w) : checkHttp(url, w);
}

/** runDriver runs a workload's own load driver (e.g. the WebSocket echo) in a process of its own, pinned like wrk. */
function runDriver(url: string, w: Workload, durationS: number, cpus: string | null): Promise<GenResult> {
  const [cmd, args] = pinned(cpus, process.execPath, [RUN_WORKLOAD_JS, w.name, url, String(durationS)]);
  return runToExit(cmd, args).then(({ code, out, err }) => {
    let r: LoadResult;
    try {
      r = JSON.parse(out) as LoadResult;
    } catch {
      throw new Error(`the ${w.name} driver printed no result (exit ${code}):\n${out}${err}`);
    }
    return { requests: r.requests, durationS: r.durationS, errors: r.errors, p50Us: r.latencyUs.p50, p99Us: r.latencyUs.p99, p999Us: r.latencyUs.p999 };
  });
}

/** runToExit runs a load generator and resolves with its exit code and everything it printed. */
function runToExit(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

function runGen(gen: 'wrk' | 'autocannon', url: string, w: Workload, durationS: number, cpus: string | null, dir: string): Promise<GenResult> {
  if (w.run) return runDriver(url, w, durationS, cpus);
  let cmd: string;
  let args: string[];
  if (gen === 'wrk') {
    const script = path.join(dir, `${w.name}.lua`);
    writeFileSync(script, wrkScript(w.method, w.bodyBytes ?? 0, w.headers));
    [cmd, args] = pinned(cpus, 'wrk', ['-t1', `-c${w.connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', script, url + w.path]);
  } else {
    const ac = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
    const extra: string[] = [];
    if (w.bodyBytes) {
      const bodyFile = path.join(dir, `${w.name}.body`);
      writeFileSync(bodyFile, requestBody(w)!);
      extra.push('-m', w.method, '-i', bodyFile, '-H', 'content-type=application/octet-stream');
    }
    for (const [k, v] of Object.entries(w.headers ?? {})) extra.push('-H', `${k}=${v}`);
    [cmd, args] = pinned(cpus, process.execPath, [ac, '-j', '-c', String(w.connections), '-d', String(durationS), '-t', '10', ...extra, url + w.path]);
  }
  return runToExit(cmd, args).then(({ code, out, err }) => {
    if (gen === 'wrk') {
      const line = out.split('\n').find((l) => l.startsWith('JSON '));
      if (!line) throw new Error(`wrk printed no result (exit ${code}):\n${out}${err}`);
      const j = JSON.parse(line.slice(5)) as { requests: number; durationUs: number; errors: number; p50: number; p99: number; p999: number };
      // wrk counts non-2xx/3xx statuses in errors.status
      return { requests: j.requests, durationS: j.durationUs / 1e6, errors: j.errors, p50Us: j.p50, p99Us: j.p99, p999Us: j.p999 };
    }
    const j = JSON.parse(out) as {
      requests: { total: number };
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      latency: Record<string, number>;
    };
    return {
      requests: j.requests.total,
      durationS: j.duration,
      errors: j.errors + j.timeouts + j.non2xx,
      p50Us: j.latency.p50! * 1000,
      p99Us: j.latency.p99! * 1000,
      p999Us: (j.latency.p99_9 ?? 0) * 1000,
    };
  });
}

/** the targets that compress, as the gzip workloads need (the others answer them uncompressed) */
const COMPRESSING: Target[] = ['fulcrum', 'fulcrum-uws', 'baseline', 'nginx'];

/** runsOn: does workload w run on target t? */
function runsOn(w: Workload, t: Target): boolean {
  return w.encoding === undefined || COMPRESSING.includes(t);
}

/** ratio formats a / b, or "-" when either is missing. */
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');

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
  const isNodePeer = (t: Target): t is NodePeer => (NODE_PEERS as readonly string[]).includes(t);
  const targets = o.targets.filter((t) =>
    t === 'nginx'
      ? ensure('nginx', 'nginx', o!.install)
      : t === 'haproxy'
        ? ensure('haproxy', 'haproxy', o!.install)
        : isNodePeer(t)
          ? nodePeerInstalled(t)
          : true,
  );

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
      } else if (t === 'fulcrum-uws') {
        const many = manyClients(o.upstreamIdle);
        const f = await startFulcrum(backend.port, o.workers, {
          cpus: cpuProxy,
          config: (cfg) => {
            many(cfg);
            cfg.listen = { ...(cfg.listen as object | undefined), engine: 'uws' };
            return cfg;
          },
        });
        running.set(t, { target: t, port: f.port, proc: f, pids: f.pids, version: 'fulcrum (this checkout), listen.engine "uws"' });
      } else if (t === 'baseline' && o.baseline) {
        const f = await startFulcrum(backend.port, o.workers, {
          cpus: cpuProxy,
          config: withIdle(o.upstreamIdle),
          bin: path.join(o.baseline, 'bin', 'fulcrum.js'),
        });
        running.set('baseline', { target: t, port: f.port, proc: f, pids: f.pids, version: `fulcrum at ${o.baseline}` });
      } else if (t === 'nginx') running.set(t, await startNginx(dir, backend.port, o.workers, o.upstreamIdle, cpuProxy));
      else if (t === 'haproxy') running.set(t, await startHaproxy(dir, backend.port, o.workers, cpuProxy));
      else if (isNodePeer(t)) {
        try {
          running.set(t, await startNodePeer(t, backend.port, o.workers, cpuProxy));
        } catch (err) {
          say(`${t} did not start (${(err as Error).message.trim().split('\n').slice(0, 3).join(' | ')}): skipping it`);
        }
      }
    }
    // every target answers every workload right before anything is measured
    for (const [t, run] of running) {
      for (const w of o.workloads) {
        if (!runsOn(w, t)) continue;
        const wrong = await checkAnswer(`http://127.0.0.1:${run.port}`, w);
        if (wrong === null) continue;
        if (t === 'direct' || t === 'fulcrum' || t === 'baseline') throw new Error(`${t} answered ${w.name} wrongly: ${wrong}`);
        say(`${t} answered ${w.name} wrongly (${wrong}): skipping ${t}`);
        await run.proc?.stop();
        running.delete(t);
        break;
      }
    }
    const order = targets.filter((t) => running.has(t));
    const total = o.workloads.reduce((n, w) => n + order.filter((t) => runsOn(w, t)).length, 0) * o.rounds;
    say(
      `${total} runs of ${o.durationS} s (+${o.warmupS} s warm-up) with ${gen}, ${order.join(' ')} alternating, ${o.rounds} rounds; about ${Math.ceil((total * (o.durationS + o.warmupS + 0.5)) / 60)} min; load ${loadAverage()}`,
    );
    let k = 0;
    for (const w of o.workloads) {
      for (let r = 0; r < o.rounds; r++) {
        for (const t of order) {
          if (!runsOn(w, t)) continue;
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
          say(
            `[${k}/${total}] ${w.name} round ${r + 1} ${t}: ${fmtInt(s.rps)} req/s, p99 ${fmtMs(s.p99Us)} ms, ${s.errors} errors${s.cpuUsPerRequest !== null ? `, ${s.cpuUsPerRequest.toFixed(1)} µs CPU/req, ${s.faultsPerRequest!.toFixed(2)} faults/req` : ''}`,
          );
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

function report(
  o: Options,
  gen: string,
  pin: boolean,
  order: Target[],
  samples: Map<string, Sample[]>,
  m: ReturnType<typeof machine>,
  versions: Record<string, string>,
): void {
  const peers = order.filter((t) => t !== 'direct' && t !== 'fulcrum');
  const rpsCell = (xs: Sample[] | undefined) => {
    if (!xs?.length) return '-';
    const r = xs.map((x) => x.rps);
    return `${fmtInt(median(r))} (${fmtInt(Math.min(...r))}–${fmtInt(Math.max(...r))})`;
  };
  const head1 = [
    'workload',
    ...order.map((t) => `${t} req/s`),
    ...(order.includes('fulcrum') ? peers.map((p) => `fulcrum ÷ ${p}`) : []),
    ...(order.includes('fulcrum') && order.includes('direct') ? ['fulcrum ÷ direct'] : []),
  ];
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
      ...(order.includes('fulcrum') ? peers.map((p) => ratio(f, med(p))) : []),
      ...(order.includes('fulcrum') && order.includes('direct') ? [ratio(f, med('direct'))] : []),
    ];
  });
  const head2 = [
    'workload',
    ...order.map((t) => `${t} p50 / p99 / p99.9 ms`),
    ...order.filter((t) => t !== 'direct').map((t) => `${t} CPU µs/req (user+sys)`),
    'errors',
  ];
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
    return [
      w.title,
      ...order.map(lat),
      ...order.filter((t) => t !== 'direct').map(cpu),
      errors.some((e) => e > 0) ? order.map((t, i) => `${t} ${errors[i]}`).join(', ') : '0',
    ];
  });
  const loads = [...samples.values()].flat().map((s) => s.load);
  const setup = [
    `date: ${new Date().toISOString()}`,
    `machine: ${m.cpu}, ${m.cores} CPUs, ${m.memGiB} GiB, ${m.kernel}, Node ${m.node}`,
    `versions: ${Object.entries(versions)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
    `upstream keep-alive: ${o.upstreamIdle} idle connections kept (nginx keepalive, fulcrum keepAlive.maxIdle; HAProxy http-reuse always, unlimited); fulcrum limits.maxConnectionsPerClient 0 (no per-client cap, as the peers)`,
    ...(order.some((t) => (NODE_PEERS as readonly string[]).includes(t))
      ? [
          `Node peers: http-proxy = node:http + http-proxy (proxy.web, proxy.ws) with an http.Agent({ keepAlive: true, maxSockets: 1024 }) to the backend; fastify-proxy = fastify + @fastify/http-proxy (undici pool, its defaults: 128 keep-alive connections), logger off, websocket: true; ${o.workers > 1 ? `node:cluster with ${o.workers} workers each (plus the primary, counted in CPU/request)` : 'one Node process each'}`,
        ]
      : []),
    `load generator: ${gen}, one thread${
      o.workloads.some((w) => w.run)
        ? ` (${o.workloads
            .filter((w) => w.run)
            .map((w) => w.name)
            .join(', ')}: its own driver, scripts/bench/ws-load.ts, in one Node process; messages/s reported as req/s)`
        : ''
    }; ${o.rounds} alternating rounds of ${o.durationS} s (+${o.warmupS} s warm-up) per target and workload; ${o.workers} worker(s) per proxy${pin ? '; proxies pinned to CPU 0, backend and load generator to CPU 1' : ''}`,
    `load average (1, 5, 15 min) at the first and last run: ${loads[0]} / ${loads[loads.length - 1]}`,
  ];
  const text = `${setup.join('\n')}\n\nreq/s: median (min–max)\n${table(head1, rows1)}\nlatency (medians) and proxy CPU per request\n${table(head2, rows2)}`;
  process.stdout.write('\n' + text);
  const md = `${setup.map((s) => `- ${s}`).join('\n')}\n\nRequests per second, median (min–max) of ${o.rounds} runs:\n\n${markdownTable(head1, rows1)}\nLatency (medians of the runs' percentiles) and proxy CPU time per request:\n\n${markdownTable(head2, rows2)}`;
  mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, `native-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify({ setup, versions, options: { ...o, workloads: o.workloads.map((w) => w.name) }, samples: Object.fromEntries(samples) }, null, 2) + '\n',
  );
  process.stdout.write(`\nresults: ${base}.md, ${base}.json\n`);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`native-bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
