/**
 * Processes for the benchmarks: the backend, fulcrum, and their CPU time and memory read from
 * /proc (Linux), plus helpers shared with native-bench.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

export { freePort };

/** the checkout's root (dist/scripts/bench/ -> ../../..) */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BACKEND_JS = path.join(ROOT, 'dist', 'scripts', 'bench', 'backend.js');
/** runs a workload's own load driver in a process of its own (native-bench) */
export const RUN_WORKLOAD_JS = path.join(ROOT, 'dist', 'scripts', 'bench', 'run-workload.js');
export const FULCRUM_BIN = path.join(ROOT, 'bin', 'fulcrum.js');

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** pinned prefixes a command with `taskset -c <cpus>` when asked and possible. */
export function pinned(cpus: string | null, cmd: string, args: string[]): [string, string[]] {
  if (cpus === null || !hasCommand('taskset')) return [cmd, args];
  return ['taskset', ['-c', cpus, cmd, ...args]];
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** launch spawns a process, collects its output, and resolves once `ready(output)` is true. */
export async function launch(
  cmd: string,
  args: string[],
  ready: (out: string) => boolean,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; what: string },
): Promise<Proc> {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d.length > 4096 ? d.slice(0, 4096) : d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const p: Proc = {
    child,
    pid: child.pid!,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (!ready(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${opts.what} exited before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      await p.stop('SIGKILL');
      throw new Error(`${opts.what} was not ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return p;
}

export async function startBackend(cpus: string | null = null): Promise<Proc & { port: number }> {
  const port = await freePort();
  const [cmd, args] = pinned(cpus, process.execPath, [BACKEND_JS, String(port)]);
  const p = await launch(cmd, args, (o) => o.includes('listening'), { what: 'bench backend' });
  return { ...p, port };
}

export interface FulcrumProc extends Proc {
  port: number;
  /** primary and workers */
  pids(): number[];
}

/** startFulcrum runs `fulcrum start` in front of one backend with `workers` workers. */
export async function startFulcrum(
  backendPort: number,
  workers: number,
  opts: {
    cpus?: string | null;
    env?: NodeJS.ProcessEnv;
    config?: (c: Record<string, unknown>) => Record<string, unknown>;
    bin?: string /** node flags for fulcrum's processes (workers inherit them) */;
    nodeArgs?: string[];
  } = {},
): Promise<FulcrumProc> {
  const port = await freePort();
  const adminPort = await freePort();
  let cfg: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port },
    workers,
    admin: { host: '127.0.0.1', port: adminPort, token: null },
    upstreams: { app: { balance: 'round-robin', servers: [{ url: `http://127.0.0.1:${backendPort}` }] } },
    routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    logging: { level: 'info' },
  };
  if (opts.config) cfg = opts.config(structuredClone(cfg));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  const [cmd, args] = pinned(opts.cpus ?? null, process.execPath, [...(opts.nodeArgs ?? []), opts.bin ?? FULCRUM_BIN, 'start', '-c', file]);
  const p = await launch(cmd, args, (o) => o.includes('"fulcrum started"'), { what: 'fulcrum', env: opts.env });
  return { ...p, port, pids: () => [p.pid, ...descendants(p.pid)] };
}

/** descendants lists every process below pid. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  let kids: number[] = [];
  try {
    kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    /* none */
  }
  for (const k of kids) out.push(k, ...descendants(k));
  return out;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** cpuSeconds sums user and system time (and minor page faults) of the given processes (those still alive). */
export function cpuSeconds(pids: number[]): { user: number; system: number; minorFaults: number } {
  let user = 0;
  let system = 0;
  let minorFaults = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      minorFaults += Number(f[7]);
      user += Number(f[11]);
      system += Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return { user: user / CLK_TCK, system: system / CLK_TCK, minorFaults };
}

export function rssBytes(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** ResourceMeter measures CPU time and peak RSS (summed over the processes) between start and stop. */
export class ResourceMeter {
  private cpu0 = { user: 0, system: 0, minorFaults: 0 };
  private peak = 0;
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;

  constructor(private readonly pids: () => number[]) {}

  start(): void {
    const pids = this.pids();
    this.cpu0 = cpuSeconds(pids);
    this.peak = rssBytes(pids);
    this.t0 = performance.now();
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, rssBytes(pids));
    }, 250);
  }

  stop(): { cpuUserS: number; cpuSystemS: number; cpuPct: number; peakRssBytes: number } {
    if (this.timer) clearInterval(this.timer);
    const pids = this.pids();
    this.peak = Math.max(this.peak, rssBytes(pids));
    const c = cpuSeconds(pids);
    const wall = (performance.now() - this.t0) / 1000;
    const user = c.user - this.cpu0.user;
    const system = c.system - this.cpu0.system;
    return { cpuUserS: user, cpuSystemS: system, cpuPct: wall > 0 ? ((user + system) / wall) * 100 : 0, peakRssBytes: this.peak };
  }
}

/** loadAverage is `uptime`'s view: the 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

export function machine(): { cpu: string; cores: number; memGiB: number; kernel: string; node: string; load: string } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  cpu = cpu.replace(/\s+/g, ' ').trim();
  return {
    cpu,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    load: loadAverage(),
  };
}

/**
 * onInterrupt runs `cleanup` (stop what a benchmark started) when the user presses Ctrl-C or the
 * process is terminated, then exits 130; the returned function unregisters it.
 */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  const handler = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping the processes the benchmark started\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
