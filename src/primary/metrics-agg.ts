/**
 * MetricsAggregator merges the workers' metrics reports in the primary, exactly: counters are
 * summed from deltas, latency histograms are added (hdr-histogram-js add, never averaged
 * percentiles), gauges are summed over the live workers. It serves GET /metrics (Prometheus text
 * exposition format) and the metrics part of GET /status and of the dashboard.
 *
 * Besides the totals it keeps a short history per server, one slot per second: requests, errors
 * and the latency histogram of that second, for rates, error ratios, recent percentiles and the
 * dashboard's sparklines.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import { MAX_LATENCY_US } from '../util/latency-recorder.js';
import type { MetricsReport } from '../ipc.js';
import type { LoadedConfig } from '../config/load.js';
import { ERRORS, UPSTREAM_ERROR_KINDS } from '../errors.js';
import { CODE_CLASSES } from '../worker/obs/metrics.js';

/** Prometheus buckets of fulcrum_request_duration_seconds (upper bounds, seconds) */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** seconds of history kept per server (sparklines) */
export const HISTORY_SECONDS = 60;
/** seconds over which recent rates and percentiles are computed */
export const WINDOW_SECONDS = 10;

/**
 * Every reason of fulcrum_rejections_total (src/errors.ts), seeded at 0, because a worker
 * registers a reason only when it first rejects for it.
 */
const REJECTION_REASONS = [
  ...new Set(
    Object.values(ERRORS)
      .map((e) => e.rejection)
      .filter((r) => r !== null),
  ),
];

const newHistogram = (): Histogram => build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: 2 });

interface Series {
  labels: string[];
  value: number;
}

interface Second {
  requests: number;
  errors: number;
  latency: Histogram | null;
}

/** ServerAgg is everything the primary knows about one upstream server's traffic. */
class ServerAgg {
  /** requests by code class since start */
  readonly byClass = new Map<string, number>();
  latency = newHistogram();
  latencySumUs = 0;
  /** history[0] is the current (incomplete) second */
  history: Second[] = [{ requests: 0, errors: 0, latency: null }];
  constructor(
    readonly upstream: string,
    readonly server: string,
  ) {}
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface ServerSummary {
  upstream: string;
  server: string;
  requests: number;
  byClass: Record<string, number>;
  errors: Record<string, number>;
  /** requests in flight now, summed over the workers */
  inFlight: number;
  /** requests per second over the last WINDOW_SECONDS */
  requestsPerSecond: number;
  /** share of 5xx or unanswered responses over the last WINDOW_SECONDS (0..1) */
  errorRate: number;
  latency: LatencySummary;
  /** over the last WINDOW_SECONDS */
  recentLatency: LatencySummary;
  /** requests per second, oldest first, one per second of HISTORY_SECONDS */
  sparkline: number[];
  /** recent latency distribution over DURATION_BUCKETS (non-cumulative counts; last = above the largest) */
  histogram: number[];
}

const us2ms = (v: number) => Math.round(v) / 1000;

function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
  return {
    count: h.totalCount,
    p50Ms: us2ms(h.getValueAtPercentile(50)),
    p90Ms: us2ms(h.getValueAtPercentile(90)),
    p99Ms: us2ms(h.getValueAtPercentile(99)),
    p999Ms: us2ms(h.getValueAtPercentile(99.9)),
    maxMs: us2ms(h.maxValue),
  };
}

/** bucketCounts returns non-cumulative counts of h over DURATION_BUCKETS (+ one overflow slot). */
function bucketCounts(h: Histogram): number[] {
  const out = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  if (h.totalCount === 0) return out;
  const js = h as Histogram & { countsArrayLength: number; getCountAtIndex(i: number): number; valueFromIndex(i: number): number };
  const bounds = DURATION_BUCKETS.map((s) => s * 1e6);
  for (let i = 0; i < js.countsArrayLength; i++) {
    const c = js.getCountAtIndex(i);
    if (c === 0) continue;
    const v = js.valueFromIndex(i);
    let b = 0;
    while (b < bounds.length && v > bounds[b]!) b++;
    out[b]! += c;
  }
  return out;
}

function isError(codeClass: string): boolean {
  return codeClass === '5xx' || codeClass === 'none';
}

export class MetricsAggregator {
  private readonly families = new Map<string, ['counter' | 'gauge', string, string[]]>();
  private readonly counters = new Map<string, Map<string, Series>>();
  /** gauges as last reported by each worker pid */
  private readonly gauges = new Map<number, MetricsReport['gauges']>();
  private readonly requests = new Map<string, Series>();
  private readonly errors = new Map<string, Series>();
  private readonly servers = new Map<string, ServerAgg>();
  private timer: NodeJS.Timeout | null = null;
  /** the config whose series are seeded */
  private seeded: LoadedConfig | null = null;

  constructor() {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private server(upstream: string, server: string): ServerAgg {
    const key = upstream + '\u0000' + server;
    let s = this.servers.get(key);
    if (s === undefined) {
      s = new ServerAgg(upstream, server);
      this.servers.set(key, s);
    }
    return s;
  }

  /**
   * seed adds, at 0, every series a config implies: requests per route, server and class, errors
   * per server and kind, retries, latency histograms, rejections per reason. A series that only
   * appears with its first event makes `rate()` and `increase()` miss that event, and an alert on
   * an absent series never fires. Called before rendering; cheap when the config is the same.
   */
  seed(cfg: LoadedConfig): void {
    if (cfg === this.seeded) return;
    this.seeded = cfg;
    for (const r of cfg.raw.routes) {
      const up = cfg.upstreams[r.upstream];
      if (!up) continue;
      // the worker's route label (src/worker/observe.ts)
      const route = r.host + r.pathPrefix;
      for (const sv of up.servers) for (const c of CODE_CLASSES) add(this.requests, [route, up.name, sv.id, c], 0);
    }
    for (const up of Object.values(cfg.upstreams)) {
      for (const sv of up.servers) {
        this.server(up.name, sv.id);
        for (const k of UPSTREAM_ERROR_KINDS) add(this.errors, [up.name, sv.id, k], 0);
        add(this.errors, [up.name, sv.id, 'retry'], 0);
      }
    }
    if (!this.families.has('fulcrum_rejections_total'))
      this.families.set('fulcrum_rejections_total', ['counter', 'Requests rejected before any backend, by reason.', ['reason']]);
    let fam = this.counters.get('fulcrum_rejections_total');
    if (fam === undefined) this.counters.set('fulcrum_rejections_total', (fam = new Map()));
    for (const reason of REJECTION_REASONS) add(fam, [reason], 0);
  }

  /** ingest merges one worker's metrics section. */
  ingest(pid: number, r: MetricsReport): void {
    for (const [name, def] of Object.entries(r.families)) this.families.set(name, def);
    for (const [name, labels, delta] of r.counters) {
      let fam = this.counters.get(name);
      if (fam === undefined) this.counters.set(name, (fam = new Map()));
      add(fam, labels, delta);
    }
    this.gauges.set(pid, r.gauges);
    for (const [route, upstream, server, codeClass, delta] of r.requests) {
      add(this.requests, [route, upstream, server, codeClass], delta);
      const s = this.server(upstream, server);
      s.byClass.set(codeClass, (s.byClass.get(codeClass) ?? 0) + delta);
      s.history[0]!.requests += delta;
      if (isError(codeClass)) s.history[0]!.errors += delta;
    }
    for (const [upstream, server, kind, delta] of r.errors) add(this.errors, [upstream, server, kind], delta);
    for (const [upstream, server, pairs, sumUs] of r.latency) {
      const s = this.server(upstream, server);
      const now = s.history[0]!;
      const recent = (now.latency ??= newHistogram());
      // the worker's buckets are hdr's own (src/util/latency-recorder.ts): recorded as they come
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        s.latency.recordValueWithCount(pairs[i]!, pairs[i + 1]!);
        recent.recordValueWithCount(pairs[i]!, pairs[i + 1]!);
      }
      s.latencySumUs += sumUs;
    }
  }

  /** forgetWorkers drops the gauges of workers that are gone. */
  forgetWorkers(livePids: number[]): void {
    for (const pid of this.gauges.keys()) if (!livePids.includes(pid)) this.gauges.delete(pid);
  }

  /** tick starts a new second of history. */
  private tick(): void {
    for (const s of this.servers.values()) {
      s.history.unshift({ requests: 0, errors: 0, latency: null });
      if (s.history.length > HISTORY_SECONDS + 1) s.history.pop();
      // latency is kept only for the window (a histogram is ~13 KiB; counts are kept for the sparkline)
      const old = s.history[WINDOW_SECONDS + 1];
      if (old?.latency) {
        old.latency.destroy();
        old.latency = null;
      }
    }
  }

  /** gaugeSum sums one gauge series over the live workers. */
  gaugeSum(name: string, labelValues: string[]): number {
    let sum = 0;
    for (const list of this.gauges.values()) {
      for (const [n, lv, v] of list) if (n === name && lv.length === labelValues.length && lv.every((x, i) => x === labelValues[i])) sum += v;
    }
    return sum;
  }

  /** summary describes every server that has seen traffic. */
  summary(): ServerSummary[] {
    const out: ServerSummary[] = [];
    for (const s of this.servers.values()) {
      // the window: the last WINDOW_SECONDS complete seconds plus the current one
      const win = s.history.slice(0, WINDOW_SECONDS + 1);
      const secs = Math.max(1, win.length - 1);
      let req = 0;
      let err = 0;
      const recent = newHistogram();
      for (const h of win) {
        req += h.requests;
        err += h.errors;
        if (h.latency) recent.add(h.latency);
      }
      const errors: Record<string, number> = {};
      for (const e of this.errors.values()) if (e.labels[0] === s.upstream && e.labels[1] === s.server) errors[e.labels[2]!] = e.value;
      const spark = s.history
        .slice(1, HISTORY_SECONDS + 1)
        .map((h) => h.requests)
        .reverse();
      while (spark.length < HISTORY_SECONDS) spark.unshift(0);
      out.push({
        upstream: s.upstream,
        server: s.server,
        requests: [...s.byClass.values()].reduce((a, b) => a + b, 0),
        byClass: Object.fromEntries(s.byClass),
        errors,
        inFlight: this.gaugeSum('fulcrum_upstream_in_flight', [s.upstream, s.server]),
        requestsPerSecond: Math.round((req / secs) * 10) / 10,
        errorRate: req === 0 ? 0 : Math.round((err / req) * 10000) / 10000,
        latency: summarize(s.latency),
        recentLatency: summarize(recent),
        sparkline: spark,
        histogram: bucketCounts(recent),
      });
      recent.destroy();
    }
    return out;
  }

  /** prometheus renders every metric in the text exposition format (version 0.0.4). */
  prometheus(extra: { workers: { index: number; pid: number | undefined; startedAt: number; restarts: number }[] }): string {
    const lines: string[] = [];
    const head = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    head(
      'fulcrum_requests_total',
      'counter',
      'Proxied requests by route, upstream, server ("" when none was available) and response class ("none": no response, the client left).',
    );
    for (const s of this.requests.values()) lines.push(`fulcrum_requests_total${labels(['route', 'upstream', 'server', 'code_class'], s.labels)} ${s.value}`);

    head(
      'fulcrum_upstream_errors_total',
      'counter',
      'Upstream failures by kind: connect-refused, connect-timeout, reset-before-response, response-timeout, truncated, invalid-response, pool-timeout.',
    );
    for (const s of this.errors.values())
      if (s.labels[2] !== 'retry') lines.push(`fulcrum_upstream_errors_total${labels(['upstream', 'server', 'kind'], s.labels)} ${s.value}`);

    head('fulcrum_upstream_retries_total', 'counter', 'Requests resent on a fresh connection after a kept-alive one turned out closed.');
    for (const s of this.errors.values())
      if (s.labels[2] === 'retry') lines.push(`fulcrum_upstream_retries_total${labels(['upstream', 'server'], s.labels.slice(0, 2))} ${s.value}`);

    head('fulcrum_request_duration_seconds', 'histogram', "Time from a request's arrival to the end of its response, per upstream server.");
    for (const s of this.servers.values()) {
      const counts = bucketCounts(s.latency);
      let cum = 0;
      const l = ['upstream', 'server'];
      const v = [s.upstream, s.server];
      DURATION_BUCKETS.forEach((b, i) => {
        cum += counts[i]!;
        lines.push(`fulcrum_request_duration_seconds_bucket${labels([...l, 'le'], [...v, String(b)])} ${cum}`);
      });
      lines.push(`fulcrum_request_duration_seconds_bucket${labels([...l, 'le'], [...v, '+Inf'])} ${s.latency.totalCount}`);
      lines.push(`fulcrum_request_duration_seconds_sum${labels(l, v)} ${s.latencySumUs / 1e6}`);
      lines.push(`fulcrum_request_duration_seconds_count${labels(l, v)} ${s.latency.totalCount}`);
    }

    // gauges: summed over the live workers
    const gaugeSums = new Map<string, Map<string, Series>>();
    for (const list of this.gauges.values()) {
      for (const [name, lv, value] of list) {
        let fam = gaugeSums.get(name);
        if (fam === undefined) gaugeSums.set(name, (fam = new Map()));
        add(fam, lv, value);
      }
    }
    for (const [name, [type, help, labelNames]] of this.families) {
      const series = type === 'counter' ? this.counters.get(name) : gaugeSums.get(name);
      head(name, type, help);
      for (const s of series?.values() ?? []) lines.push(`${name}${labels(labelNames, s.labels)} ${s.value}`);
    }

    head('fulcrum_workers', 'gauge', 'Worker processes running.');
    lines.push(`fulcrum_workers ${extra.workers.filter((w) => w.pid !== undefined).length}`);
    head('fulcrum_worker_restarts_total', 'counter', 'Workers restarted after an unexpected exit, per worker slot.');
    for (const w of extra.workers) lines.push(`fulcrum_worker_restarts_total{worker="${w.index}"} ${w.restarts}`);
    return lines.join('\n') + '\n';
  }
}

function add(map: Map<string, Series>, labelValues: string[], delta: number): void {
  const key = labelValues.join('\u0000');
  const s = map.get(key);
  if (s === undefined) map.set(key, { labels: labelValues, value: delta });
  else s.value += delta;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(names: string[], values: string[]): string {
  if (names.length === 0) return '';
  return '{' + names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`).join(',') + '}';
}
