/**
 * native-bench's report: per workload, the median req/s of the rounds (with min–max) per target
 * and fulcrum's ratio to each peer, then latency and proxy CPU per request, then memory (the
 * proxy's process tree: RSS once started, before the run, its peak, the peak's growth over the
 * started RSS per client connection, and RSS after the run, settled for the soak workloads;
 * medians of the rounds), printed and written
 * as Markdown (for BENCHMARKS.md) and JSON (every sample) under --out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fmtInt, fmtMs, markdownTable, table } from '../scripts/bench/report.js';
import type { machine } from '../scripts/bench/proc.js';
import { isH2 } from './h2.js';
import { NODE_PEERS, type Options, type Target } from './options.js';

export interface Sample {
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
  /** summed RSS of the proxy's processes (primary + workers, nginx master + workers) right before the run, its peak (sampled every 100 ms), and after it (null for direct) */
  /** the same once the target started (answer check only, before any load) */
  rssIdleBytes: number | null;
  rssBeforeBytes: number | null;
  rssPeakBytes: number | null;
  rssAfterBytes: number | null;
  load: string;
}

/** ratio formats a / b, or "-" when either is missing. */
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** report prints the tables and writes the .md and .json results. */
export function report(
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
  const memTargets = order.filter((t) => t !== 'direct');
  const head3 = ['workload', ...memTargets.map((t) => `${t} RSS MiB started / before / peak / after`), ...memTargets.map((t) => `${t} KiB per conn`)];
  const rows3 = o.workloads.map((w) => {
    const get = (t: Target) => samples.get(`${w.name}/${t}`) ?? [];
    const med = (t: Target, f: (x: Sample) => number | null) => median(get(t).map((x) => f(x) ?? NaN));
    const mib = (t: Target, f: (x: Sample) => number | null) => (med(t, f) / 2 ** 20).toFixed(1);
    return [
      w.title,
      ...memTargets.map((t) =>
        get(t).length
          ? `${mib(t, (x) => x.rssIdleBytes)} / ${mib(t, (x) => x.rssBeforeBytes)} / ${mib(t, (x) => x.rssPeakBytes)} / ${mib(t, (x) => x.rssAfterBytes)}`
          : '-',
      ),
      ...memTargets.map((t) =>
        get(t).length ? (med(t, (x) => (x.rssPeakBytes === null ? null : x.rssPeakBytes - x.rssIdleBytes!)) / 1024 / w.connections).toFixed(0) : '-',
      ),
    ];
  });
  const loads = [...samples.values()].flat().map((s) => s.load);
  const setup = [
    `date: ${new Date().toISOString()}`,
    `machine: ${m.cpu}, ${m.cores} CPUs, ${m.memGiB} GiB, ${m.kernel}, Node ${m.node}`,
    `versions: ${Object.entries(versions)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
    `upstream keep-alive: ${o.upstreamIdle} idle connections kept (nginx keepalive, fulcrum keepAlive.maxIdle; HAProxy http-reuse always, unlimited); fulcrum limits.maxConnectionsPerClient 0 (no per-client cap, as the peers); fulcrum http2.implementation ${o.h2Implementation ?? 'its default'}${o.baseline ? `, baseline's ${o.baselineH2Implementation ?? 'its default'}` : ''}`,
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
    ...(o.workloads.some(isH2)
      ? [
          `HTTP/2 (${o.workloads
            .filter(isH2)
            .map((w) => `${w.name}: ${w.connections} connections × ${w.streams} streams`)
            .join(
              ', ',
            )}; -c, -m): ${versions.h2load ?? 'h2load'}, one thread, over TLS to fulcrum's HTTPS listener (tls.http2, http2.* defaults) and nginx's http2 server, one self-signed P-256 certificate; both proxy to the backend over HTTP/1.1 keep-alive; each run is a request count (-n: the target's warm-up rate × the duration; h2load's -D can hang, native-bench/h2.ts), percentiles from h2load's per-request log`,
        ]
      : []),
    `load average (1, 5, 15 min) at the first and last run: ${loads[0]} / ${loads[loads.length - 1]}`,
  ];
  const memo =
    "memory: the proxy's processes, RSS once started (before any load) / right before the run (after its warm-up) / the run's peak / after it (soak workloads: settled); KiB per conn = (peak - started) ÷ client connections; medians of the rounds";
  const text = `${setup.join('\n')}\n\nreq/s: median (min–max)\n${table(head1, rows1)}\nlatency (medians) and proxy CPU per request\n${table(head2, rows2)}\n${memo}\n${table(head3, rows3)}`;
  process.stdout.write('\n' + text);
  const md = `${setup.map((s) => `- ${s}`).join('\n')}\n\nRequests per second, median (min–max) of ${o.rounds} runs:\n\n${markdownTable(head1, rows1)}\nLatency (medians of the runs' percentiles) and proxy CPU time per request:\n\n${markdownTable(head2, rows2)}\n${memo[0]!.toUpperCase()}${memo.slice(1)}:\n\n${markdownTable(head3, rows3)}`;
  mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, `native-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify({ setup, versions, options: { ...o, workloads: o.workloads.map((w) => w.name) }, samples: Object.fromEntries(samples) }, null, 2) + '\n',
  );
  process.stdout.write(`\nresults: ${base}.md, ${base}.json\n`);
}
