/**
 * Adaptive concurrency benchmark (upstreams.<name>.adaptiveConcurrency, issue 20). A backend
 * that serves `capacity` requests at a time and queues the rest (test/helpers/pooled-origin.ts,
 * a thread-pooled app server) gets `clients` concurrent closed-loop clients through fulcrum
 * (2 workers); halfway through, its capacity is halved. Run once with the limit on, once off.
 *
 *   npm run build && npm run bench:adaptive -- [--seconds 12] [--clients 64] [--capacity 8]
 *     [--service-ms 50] [--out bench-results]
 *
 * Every 250 ms it records the limit (GET /status), the requests inside the backend, and the
 * latency of the requests the backend completed (arrival to response: what the admitted requests
 * cost the backend's own users). Prints a summary per phase (the first settle seconds of each
 * phase left out) and writes adaptive-concurrency.json and a self-contained adaptive-concurrency.html
 * (SVG plots of limit and latency over time) to --out.
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { intArg, parseOptions } from './bench/args.js';
import { startFulcrum, type Fulcrum } from '../test/helpers/fulcrum.js';
import { spawnPooledOrigin, type PooledOrigin } from '../test/helpers/pooled-origin.js';

const HELP = `usage: npm run bench:adaptive -- [options]

  --seconds S      seconds per phase (default 12; the capacity is halved after the first)
  --clients N      concurrent clients (default 64)
  --capacity N     requests the backend serves at a time (default 8)
  --service-ms MS  time the backend takes per request (default 50)
  --out DIR        where adaptive-concurrency.json and .html go (default bench-results)
`;

const TICK_MS = 250;
/** seconds at the start of each phase left out of its summary (start-up measurement, the halving) */
const SETTLE_S = 3;

interface Tick {
  /** seconds since the start */
  t: number;
  /** the cluster-wide limit (null: off) */
  limit: number | null;
  /** fulcrum's view: the minimum latency and the last window's percentile, ms (null: off) */
  minLatencyMs: number | null;
  latencyMs: number | null;
  /** requests inside the backend (served + queued) */
  backendInFlight: number;
  /** latency at the backend of the requests it completed in this tick, ms */
  p50: number;
  p99: number;
  /** responses per second in this tick (all statuses), and 503s */
  rps: number;
  rejected: number;
}

interface PhaseSummary {
  capacity: number;
  /** the backend's nominal maximum, req/s */
  nominalMax: number;
  rps: number;
  backendP50: number;
  backendP99: number;
  /** latency as the clients see it (fulcrum's queue included), ms */
  clientP99: number;
  rejected: number;
  meanLimit: number | null;
}

interface ModeResult {
  mode: 'on' | 'off';
  ticks: Tick[];
  phases: [PhaseSummary, PhaseSummary];
  /** seconds from the halving until the limit is within 20% of its settled value after it (on only) */
  followS: number | null;
}

export interface AdaptiveOptions {
  seconds: number;
  clients: number;
  capacity: number;
  serviceMs: number;
}

function pct(a: number[], p: number): number {
  if (a.length === 0) return 0;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((s.length * p) / 100) - 1))]!;
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

interface Control {
  limit: number;
  minLatencyMs: number;
  latencyMs: number;
}

async function controlOf(f: Fulcrum): Promise<Control | null> {
  const st = (await getJson(`${f.adminUrl}/status`)) as { upstreams: { app: { servers: { concurrency?: Control }[] } } };
  return st.upstreams.app.servers[0]?.concurrency ?? null;
}

/** runMode drives one fulcrum (limit on or off) through both phases. */
export async function runMode(mode: 'on' | 'off', o: AdaptiveOptions): Promise<ModeResult> {
  const backend: PooledOrigin = await spawnPooledOrigin(o.capacity, o.serviceMs);
  const f = await startFulcrum({
    workers: 2,
    upstreams: {
      app: {
        servers: [{ url: backend.url }],
        queueSize: o.clients * 2,
        ...(mode === 'on' ? { adaptiveConcurrency: {} } : {}),
      },
    },
    routes: [{ upstream: 'app' }],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  let stop = false;
  let clientLat: number[] = [];
  let done = 0;
  let rejected = 0;
  const get = () =>
    new Promise<void>((resolve) => {
      const at = performance.now();
      http
        .get(`${f.url}/`, { agent }, (res) => {
          res.resume().on('end', () => {
            done++;
            if (res.statusCode === 503) rejected++;
            else clientLat.push(performance.now() - at);
            resolve();
          });
        })
        .on('error', () => resolve());
    });
  const loops = Array.from({ length: o.clients }, async () => {
    while (!stop) await get();
  });
  const ticks: Tick[] = [];
  const phaseLat: [number[], number[]] = [[], []];
  const phaseClient: [number[], number[]] = [[], []];
  const phaseCount = [0, 0];
  /** seconds the counted ticks covered, per phase (ticks run late on a busy machine) */
  const phaseS = [0, 0];
  const phaseRejected = [0, 0];
  const started = performance.now();
  const total = 2 * o.seconds * 1000;
  try {
    let next = started + TICK_MS;
    let prevT = 0;
    while (performance.now() - started < total) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      next += TICK_MS;
      const t = (performance.now() - started) / 1000;
      const tickS = t - prevT;
      prevT = t;
      const phase = t <= o.seconds ? 0 : 1;
      if (phase === 1 && backend.capacity === o.capacity) backend.setCapacity(Math.max(1, Math.floor(o.capacity / 2)));
      const { inFlight: backendInFlight, latencies: lat } = await backend.take();
      const c = mode === 'on' ? await controlOf(f).catch(() => null) : null;
      ticks.push({
        t,
        limit: c?.limit ?? null,
        minLatencyMs: c?.minLatencyMs ?? null,
        latencyMs: c?.latencyMs ?? null,
        backendInFlight,
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        rps: tickS > 0 ? done / tickS : 0,
        rejected,
      });
      const inPhase = t - phase * o.seconds;
      if (inPhase > SETTLE_S) {
        phaseLat[phase]!.push(...lat);
        phaseClient[phase]!.push(...clientLat);
        phaseCount[phase]! += done;
        phaseS[phase]! += tickS;
        phaseRejected[phase]! += rejected;
      }
      clientLat = [];
      done = 0;
      rejected = 0;
    }
  } finally {
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    await f.stop();
    await backend.close();
  }
  const phases = [0, 1].map((p): PhaseSummary => {
    const cap = p === 0 ? o.capacity : Math.max(1, Math.floor(o.capacity / 2));
    const limits = ticks.filter((k) => k.limit !== null && k.t - p * o.seconds > SETTLE_S && k.t - p * o.seconds <= o.seconds).map((k) => k.limit!);
    return {
      capacity: cap,
      nominalMax: (cap * 1000) / o.serviceMs,
      rps: phaseCount[p]! / phaseS[p]!,
      backendP50: pct(phaseLat[p]!, 50),
      backendP99: pct(phaseLat[p]!, 99),
      clientP99: pct(phaseClient[p]!, 99),
      rejected: phaseRejected[p]!,
      meanLimit: limits.length ? limits.reduce((a, b) => a + b, 0) / limits.length : null,
    };
  }) as [PhaseSummary, PhaseSummary];
  let followS: number | null = null;
  const settled = phases[1].meanLimit;
  if (mode === 'on' && settled !== null) {
    const hit = ticks.find((k) => k.t > o.seconds && k.limit !== null && k.limit <= settled * 1.2);
    if (hit) followS = hit.t - o.seconds;
  }
  return { mode, ticks, phases, followS };
}

// ---- report -------------------------------------------------------------------------------

function polyline(points: [number, number][], color: string, width = 1.5, dash = ''): string {
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`;
}

/** chart draws one mode: limit and backend in-flight (left axis), backend latency p50/p99 (right axis). */
function chart(r: ModeResult, o: AdaptiveOptions): string {
  const W = 760;
  const H = 260;
  const L = 50;
  const R = 60;
  const T = 30;
  const B = 30;
  const tMax = 2 * o.seconds;
  const countMax = Math.max(1, ...r.ticks.map((k) => Math.max(k.limit ?? 0, k.backendInFlight))) * 1.1;
  const latMax = Math.max(o.serviceMs * 3.5, ...r.ticks.map((k) => k.p99)) * 1.1;
  const x = (t: number) => L + (t / tMax) * (W - L - R);
  const yc = (v: number) => T + (1 - v / countMax) * (H - T - B);
  const yl = (v: number) => T + (1 - v / latMax) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fff" stroke="#ddd"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (countMax * i) / 4;
    const w = (latMax * i) / 4;
    parts.push(`<text x="${L - 6}" y="${yc(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`);
    parts.push(`<text x="${W - R + 6}" y="${yl(w) + 4}">${w.toFixed(0)} ms</text>`);
  }
  for (let s = 0; s <= tMax; s += 4) parts.push(`<text x="${x(s)}" y="${H - 10}" text-anchor="middle">${s} s</text>`);
  parts.push(`<line x1="${x(o.seconds)}" x2="${x(o.seconds)}" y1="${T}" y2="${H - B}" stroke="#999" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x(o.seconds) + 4}" y="${T + 12}">capacity ${o.capacity} -> ${Math.floor(o.capacity / 2)}</text>`);
  parts.push(
    polyline(
      [
        [L, yl(3 * o.serviceMs)],
        [W - R, yl(3 * o.serviceMs)],
      ],
      '#dc2626',
      1,
      '2 3',
    ),
  );
  parts.push(`<text x="${W - R - 4}" y="${yl(3 * o.serviceMs) - 4}" text-anchor="end" fill="#dc2626">3 x unloaded latency</text>`);
  parts.push(
    polyline(
      r.ticks.map((k) => [x(k.t), yc(k.backendInFlight)]),
      '#9ca3af',
      1.2,
    ),
  );
  parts.push(
    polyline(
      r.ticks.map((k) => [x(k.t), yl(k.p50)]),
      '#60a5fa',
      1.2,
    ),
  );
  parts.push(
    polyline(
      r.ticks.map((k) => [x(k.t), yl(k.p99)]),
      '#1d4ed8',
      1.5,
    ),
  );
  if (r.mode === 'on')
    parts.push(
      polyline(
        r.ticks.filter((k) => k.limit !== null).map((k) => [x(k.t), yc(k.limit!)]),
        '#16a34a',
        2.2,
      ),
    );
  const legend = [
    ...(r.mode === 'on' ? [['#16a34a', 'limit (left)']] : []),
    ['#9ca3af', 'requests inside the backend (left)'],
    ['#1d4ed8', 'backend latency p99 (right)'],
    ['#60a5fa', 'p50 (right)'],
  ];
  // the legend above the plot, each entry as wide as its label
  let lx = L;
  for (const [c, label] of legend) {
    parts.push(`<rect x="${lx}" y="8" width="12" height="4" fill="${c}"/><text x="${lx + 16}" y="14">${label}</text>`);
    lx += 28 + label!.length * 6;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui,sans-serif" font-size="11">${parts.join('')}</svg>`;
}

function summaryRows(results: ModeResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results)
    r.phases.forEach((p, i) => {
      rows.push([
        r.mode,
        `${i === 0 ? 'first' : 'second'} half (capacity ${p.capacity})`,
        p.meanLimit === null ? '-' : p.meanLimit.toFixed(1),
        p.rps.toFixed(0),
        `${((100 * p.rps) / p.nominalMax).toFixed(0)}%`,
        p.backendP50.toFixed(1),
        p.backendP99.toFixed(1),
        p.clientP99.toFixed(0),
        String(p.rejected),
      ]);
    });
  return rows;
}

const HEAD = ['limit', 'phase', 'mean limit', 'req/s', 'of nominal max', 'backend p50 ms', 'backend p99 ms', 'client p99 ms', '503s'];

function html(results: ModeResult[], o: AdaptiveOptions): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows = summaryRows(results)
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('');
  const on = results.find((r) => r.mode === 'on');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fulcrum adaptive concurrency</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#1d2125}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:right}th{color:#6b7280}h2{font-size:15px}</style></head><body>
<h1>Adaptive concurrency</h1>
<p>${o.clients} closed-loop clients through fulcrum (2 workers) to a backend serving ${o.capacity} requests at a time (${o.serviceMs} ms each, the rest queued inside it); its capacity is halved after ${o.seconds} s. Summaries leave out the first ${SETTLE_S} s of each half. ${on?.followS != null ? `After the halving the limit was within 20% of its new level in ${on.followS.toFixed(2)} s.` : ''}</p>
<table><thead><tr>${HEAD.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>
${results.map((r) => `<h2>limit ${r.mode}</h2>${chart(r, o)}`).join('\n')}
</body></html>
`;
}

export async function main(argv: string[]): Promise<void> {
  const o: AdaptiveOptions = { seconds: 12, clients: 64, capacity: 8, serviceMs: 50 };
  let out = 'bench-results';
  const ok = parseOptions(
    argv,
    {
      '--seconds': (v) => (o.seconds = intArg('--seconds', v(), SETTLE_S + 1)),
      '--clients': (v) => (o.clients = intArg('--clients', v(), 1)),
      '--capacity': (v) => (o.capacity = intArg('--capacity', v(), 2)),
      '--service-ms': (v) => (o.serviceMs = intArg('--service-ms', v(), 1)),
      '--out': (v) => (out = v()),
    },
    HELP,
  );
  if (!ok) return;
  const results: ModeResult[] = [];
  for (const mode of ['on', 'off'] as const) {
    console.log(`limit ${mode}: ${2 * o.seconds} s ...`);
    results.push(await runMode(mode, o));
  }
  const widths = HEAD.map((h, i) => Math.max(h.length, ...summaryRows(results).map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(HEAD));
  for (const r of summaryRows(results)) console.log(line(r));
  const on = results[0]!;
  if (on.followS !== null) console.log(`limit within 20% of its new level ${on.followS.toFixed(2)} s after the halving`);
  mkdirSync(out, { recursive: true });
  const json = path.join(out, 'adaptive-concurrency.json');
  writeFileSync(json, JSON.stringify({ options: o, settleSeconds: SETTLE_S, results }, null, 2) + '\n');
  const page = path.join(out, 'adaptive-concurrency.html');
  writeFileSync(page, html(results, o));
  console.log(`wrote ${json} and ${page}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
