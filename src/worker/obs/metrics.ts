/**
 * The worker's metrics: a small registry of counters and gauges, plus one latency histogram
 * per upstream server (HdrHistogram's bucket layout, src/util/latency-recorder.ts). Recording is a
 * number increment, never an allocation; the registry sends deltas to the primary in the batched
 * report (ReportSections "metrics"), and the primary merges them exactly (src/primary/metrics-agg.ts).
 *
 * Adding a counter is one line where the event happens, with the child looked up once:
 *
 *   const denied = counter('fulcrum_rejections_total', 'Requests rejected before any backend, by reason.', ['reason']).labels('deny');
 *   ...
 *   denied.inc();
 *
 * A gauge is read when a report is built: `gauge(name, help, labels, (emit) => emit([..labels], value))`.
 */
import { LatencyRecorder } from '../../util/latency-recorder.js';
import { encode, type MetricsReport } from '../../ipc.js';
import { addReporter } from './report.js';
import { UPSTREAM_ERROR_KINDS, upstreamErrorIndex, type ErrorKind } from '../../errors.js';

/** Child is one labelled series of a counter family. */
export class CounterChild {
  value = 0;
  /** value already sent to the primary */
  sent = 0;
  /** whether the primary knows this series (it is sent once at 0, so that it exists from the start) */
  announced = false;
  constructor(readonly labels: string[]) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class CounterFamily {
  readonly children = new Map<string, CounterChild>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: string[],
  ) {}

  /** labels returns the series for these label values (look it up once, keep it, then inc()). */
  labels(...values: string[]): CounterChild {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      c = new CounterChild(values);
      this.children.set(key, c);
    }
    return c;
  }
}

type Emit = (labels: string[], value: number) => void;
interface GaugeFamily {
  name: string;
  help: string;
  labelNames: string[];
  collect: (emit: Emit) => void;
}

const counters = new Map<string, CounterFamily>();
const gauges = new Map<string, GaugeFamily>();

/** counter returns the counter family `name` (created on first use; names end in _total). */
export function counter(name: string, help: string, labelNames: string[] = []): CounterFamily {
  let f = counters.get(name);
  if (f === undefined) {
    f = new CounterFamily(name, help, labelNames);
    counters.set(name, f);
  }
  return f;
}

/** gauge registers a gauge whose values `collect` emits each time a report is built. */
export function gauge(name: string, help: string, labelNames: string[], collect: (emit: Emit) => void): void {
  gauges.set(name, { name, help, labelNames, collect });
}

// ---- per upstream server -------------------------------------------------------------------

/** Response classes counted per route and server: index = Math.floor(status / 100), 0 = no response. */
export const CODE_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * ServerMetrics is what one upstream server records in this worker; it outlives reloads (the
 * registry keeps it by upstream and server id), so counters stay cumulative.
 */
export class ServerMetrics {
  /** requests per code class, per route label: routeCounts.get(route)[class] */
  readonly routeCounts = new Map<string, Float64Array>();
  readonly errors = new Float64Array(UPSTREAM_ERROR_KINDS.length);
  readonly errorsSent = new Float64Array(UPSTREAM_ERROR_KINDS.length);
  retries = 0;
  retriesSent = 0;
  /** latency of finished requests since the last report, in microseconds */
  readonly latency = new LatencyRecorder();

  constructor(
    readonly upstream: string,
    readonly server: string,
  ) {}

  /** codesFor returns the per-class counts of one route (cache it: it is a Map lookup). */
  codesFor(route: string): Float64Array {
    let a = this.routeCounts.get(route);
    if (a === undefined) {
      a = new Float64Array(CODE_CLASSES.length * 2); // [counts..., sent...]
      this.routeCounts.set(route, a);
    }
    return a;
  }

  /** recordLatency records one finished request's total time in milliseconds. */
  recordLatency(ms: number): void {
    this.latency.record(ms * 1000);
  }

  /** countError counts an upstream failure (kinds of src/errors.ts with `upstream`; others are ignored). */
  countError(kind: ErrorKind): void {
    const i = upstreamErrorIndex(kind);
    if (i >= 0) this.errors[i]!++;
  }
}

const servers = new Map<string, ServerMetrics>();

/** serverMetrics returns the persistent metrics of one upstream server ("" server: no server picked). */
export function serverMetrics(upstream: string, server: string): ServerMetrics {
  const key = upstream + '\u0000' + server;
  let m = servers.get(key);
  if (m === undefined) {
    m = new ServerMetrics(upstream, server);
    servers.set(key, m);
  }
  return m;
}

/** codeClass maps a status to its index in CODE_CLASSES. */
export function codeClass(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c : 0;
}

// ---- report --------------------------------------------------------------------------------

/** snapshot builds the metrics section of a report: deltas since the previous one, and gauges now. */
export function snapshot(): MetricsReport | undefined {
  const r: MetricsReport = { families: {}, counters: [], gauges: [], requests: [], errors: [], latency: [] };
  for (const f of counters.values()) {
    r.families[f.name] = ['counter', f.help, f.labelNames];
    for (const c of f.children.values()) {
      if (c.value !== c.sent || !c.announced) {
        r.counters.push([f.name, c.labels, c.value - c.sent]);
        c.sent = c.value;
        c.announced = true;
      }
    }
  }
  for (const g of gauges.values()) {
    r.families[g.name] = ['gauge', g.help, g.labelNames];
    g.collect((labels, value) => r.gauges.push([g.name, labels, value]));
  }
  const n = CODE_CLASSES.length;
  for (const m of servers.values()) {
    for (const [route, a] of m.routeCounts) {
      for (let i = 0; i < n; i++) {
        const d = a[i]! - a[n + i]!;
        if (d !== 0) {
          r.requests.push([route, m.upstream, m.server, CODE_CLASSES[i]!, d]);
          a[n + i] = a[i]!;
        }
      }
    }
    for (let i = 0; i < UPSTREAM_ERROR_KINDS.length; i++) {
      const d = m.errors[i]! - m.errorsSent[i]!;
      if (d !== 0) {
        r.errors.push([m.upstream, m.server, UPSTREAM_ERROR_KINDS[i]!, d]);
        m.errorsSent[i] = m.errors[i]!;
      }
    }
    if (m.retries !== m.retriesSent) {
      r.errors.push([m.upstream, m.server, 'retry', m.retries - m.retriesSent]);
      m.retriesSent = m.retries;
    }
    if (m.latency.count > 0) {
      const sumUs = m.latency.sumUs;
      r.latency.push([m.upstream, m.server, m.latency.drain(), sumUs]);
    }
  }
  return r;
}

/** METRICS_EVERY: a metrics section rides on every 5th report (REPORT_INTERVAL_MS 100 -> 500 ms). */
const METRICS_EVERY = 5;
let tick = 0;

/** startMetrics hooks the registry into the batched report. */
export function startMetrics(): void {
  addReporter('metrics', () => (++tick % METRICS_EVERY === 0 ? snapshot() : undefined));
}

/** flushMetrics sends what is not reported yet, then calls done (at most 500 ms later). */
export function flushMetrics(done: () => void): void {
  const timer = setTimeout(done, 500);
  const finish = () => {
    clearTimeout(timer);
    done();
  };
  if (!process.send || !process.connected) return finish();
  try {
    process.send(encode({ type: 'report', sections: { metrics: snapshot() } }), undefined, undefined, finish);
  } catch {
    finish();
  }
}
