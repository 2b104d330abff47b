/**
 * The standard process metrics of the Prometheus client libraries (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds, named and computed as prometheus/procfs does),
 * for the primary and each worker, and fulcrum_build_info. Appended to GET /metrics.
 *
 * The primary reads every process from /proc itself at scrape time (Linux, as fulcrum requires),
 * so the workers report nothing new and a worker that hangs still shows its CPU and memory.
 * Labels: role="primary" | "worker", and worker="<slot>" for workers (as fulcrum_worker_restarts_total).
 */
import { readdir, readFile } from 'node:fs/promises';
import { VERSION } from '../version.js';
import type { Supervisor } from './supervisor.js';

/** USER_HZ: clock ticks per second in /proc/<pid>/stat (100 on Linux; procfs assumes it too) */
const USER_HZ = 100;

interface ProcessSample {
  cpuSeconds: number;
  residentBytes: number;
  virtualBytes: number;
  openFds: number;
  maxFds: number;
  startTimeSeconds: number;
}

let bootTimeSeconds: Promise<number> | null = null;

/** bootTime reads btime (seconds since the epoch) from /proc/stat, once. */
function bootTime(): Promise<number> {
  bootTimeSeconds ??= readFile('/proc/stat', 'utf8').then(
    (t) => Number(/^btime (\d+)$/m.exec(t)?.[1] ?? Number.NaN),
    () => Number.NaN,
  );
  return bootTimeSeconds;
}

/** sample reads one process from /proc; null when it is gone (or /proc is not readable). */
async function sample(pid: number): Promise<ProcessSample | null> {
  try {
    const [stat, status, limits, fds, btime] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/limits`, 'utf8'),
      readdir(`/proc/${pid}/fd`),
      bootTime(),
    ]);
    // the command name (field 2) may hold spaces and parentheses: fields are counted after the last ")"
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime 14, stime 15, starttime 22
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
    const maxFds = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    return {
      cpuSeconds: (Number(f[11]) + Number(f[12])) / USER_HZ,
      residentBytes: kb('VmRSS'),
      virtualBytes: kb('VmSize'),
      openFds: fds.length,
      maxFds: maxFds === undefined || maxFds === 'unlimited' ? Number.NaN : Number(maxFds),
      startTimeSeconds: btime + Number(f[19]) / USER_HZ,
    };
  } catch {
    return null;
  }
}

const FAMILIES: [keyof ProcessSample, string, string, string][] = [
  ['cpuSeconds', 'process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.'],
  ['residentBytes', 'process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.'],
  ['virtualBytes', 'process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.'],
  ['openFds', 'process_open_fds', 'gauge', 'Number of open file descriptors.'],
  ['maxFds', 'process_max_fds', 'gauge', 'Maximum number of open file descriptors.'],
  ['startTimeSeconds', 'process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.'],
];

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** processMetrics renders the process_* families and fulcrum_build_info for the primary and its workers. */
export async function processMetrics(sup: Supervisor): Promise<string> {
  const procs: [string, number][] = [['role="primary"', process.pid]];
  for (const w of sup.workers()) if (w.pid !== undefined) procs.push([`role="worker",worker="${w.index}"`, w.pid]);
  const samples = await Promise.all(procs.map(([, pid]) => sample(pid)));
  const out: string[] = [];
  for (const [key, name, type, help] of FAMILIES) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    samples.forEach((s, i) => {
      if (s && !Number.isNaN(s[key])) out.push(`${name}{${procs[i]![0]}} ${s[key]}`);
    });
  }
  out.push(
    '# HELP fulcrum_build_info The running fulcrum: its version, the client engine (listen.engine) and its build, and Node.js.',
    '# TYPE fulcrum_build_info gauge',
    `fulcrum_build_info{version="${esc(VERSION)}",engine="${esc(sup.engine || 'none')}",build="${esc(sup.engineBuild || 'none')}",node="${esc(process.version)}"} 1`,
  );
  return out.join('\n') + '\n';
}
