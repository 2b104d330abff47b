/**
 * ConcurrencyControl is the primary's half of adaptive concurrency
 * (upstreams.<name>.adaptiveConcurrency): one gradient controller per server, as Envoy's
 * adaptive_concurrency filter runs one per cluster (a TCP Vegas-like limiter: queueing shows as
 * latency above the minimum before it shows as errors).
 *
 * - Latency: the workers report the time to the response head of every request (LatencyRecorder
 *   buckets), merged here; every sampleWindowMs the window's percentile is compared with the
 *   minimum latency: gradient = minimum x (1 + tolerance) / sample, clamped to 0.5..2, and
 *   limit = limit x gradient + 1 (Envoy adds sqrt(limit x gradient): see HEADROOM), within
 *   minLimit..maxLimit. The limit does not grow while the server has fewer than half of it
 *   in flight (Netflix Gradient2's app-limited rule): an idle period must not leave a limit so
 *   high that the next burst all gets through.
 * - Minimum latency: measured at start and every minLatencyIntervalMs (+ jitter) by holding the
 *   limit at minLimit, waiting until the requests admitted before have drained, and taking the
 *   percentile of the next minLatencyRequests responses; also when the limit sat at minLimit for
 *   5 windows in a row (the minimum may be stale). The previous limit is restored after. A
 *   window whose percentile is below the minimum lowers it at once.
 * - Shares: the limit is cluster-wide; each worker admits up to its share, pushed with the limit.
 *   Workers see different loads (the kernel spreads connections unevenly), so the shares follow
 *   each worker's demand (its requests in flight to the upstream plus those in its queue): an
 *   even split would starve the busier worker's clients while the other's share sits idle, and a
 *   first-come check against the merged count lets whichever worker frees a slot take it again.
 *   Every worker keeps at least 1 while the limit allows it, so a request to an idle worker does
 *   not wait for the next push. A share is this worker's own count against a number: no stale
 *   view of the others enters admission, so the limit is not overshot by the merge's delay (only
 *   while a share moves between workers, for about one response time, by the part that moved).
 */
import type { LoadedConfig } from '../config/load.js';
import type { UpstreamConfig } from '../config/schema.js';
import { REPORT_INTERVAL_MS, type ReportSections, type StateSections } from '../ipc.js';

type Settings = NonNullable<UpstreamConfig['adaptiveConcurrency']>;
type Report = NonNullable<ReportSections['concurrency']>;

/** windows at minLimit in a row after which the minimum latency is measured again (Envoy: 5) */
const AT_MIN_WINDOWS = 5;
/**
 * requests added on top of limit x gradient each window. Envoy adds sqrt(limit) as room for bursts
 * inside the backend; here bursts wait in fulcrum's own queue, and room inside the backend only
 * adds latency: with a backend serving 8 at a time the limit settled at ~18 and its p99 at 5.5x
 * its latency with sqrt, at ~11 and 2.4x with 1, at the same throughput (scripts/adaptive-concurrency.ts).
 */
const HEADROOM = 1;

const enum Phase {
  /** the limit is held at minLimit; waiting for the requests admitted before to finish */
  Draining,
  /** collecting the responses that make the minimum latency */
  Measuring,
  Running,
}

interface ServerControl {
  /** cluster-wide limit (fractional; pushed rounded down) */
  limit: number;
  /** the limit to restore after a measurement */
  resumeLimit: number;
  phase: Phase;
  /** minimum latency in ms (0: not measured yet) */
  minLatencyMs: number;
  /** the percentile of the last window, in ms */
  latencyMs: number;
  nextMeasureAt: number;
  windowEnd: number;
  /** latency samples of the window or measurement: microseconds -> count */
  samples: Map<number, number>;
  sampleCount: number;
  /** most requests in flight (all workers) seen during the window */
  peakInFlight: number;
  atMinWindows: number;
  /** what was pushed last: [limit, share per slot...] */
  pushed: number[];
}

interface UpstreamControl {
  settings: Settings;
  servers: Map<string, ServerControl>;
  /** requests waiting in each worker's queue: slot -> [pid, count] */
  queued: Map<number, [number, number]>;
}

/** What the controller needs from the rest of the primary. */
export interface ConcurrencyHost {
  /** the live workers: slot -> pid */
  liveSlots(): Map<number, number | undefined>;
  /** requests in flight to a server per live worker slot (slot -> count) */
  inFlightBySlot(upstream: string, id: string): Map<number, number>;
  broadcast(state: StateSections): void;
}

export class ConcurrencyControl {
  private ups = new Map<string, UpstreamControl>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly host: ConcurrencyHost) {}

  /** sync adopts the upstreams of a (re)loaded config: servers that stay keep their controller. */
  sync(cfg: LoadedConfig): void {
    const next = new Map<string, UpstreamControl>();
    const now = Date.now();
    for (const up of Object.values(cfg.upstreams)) {
      const settings = cfg.raw.upstreams[up.name]?.adaptiveConcurrency;
      if (settings === undefined) continue;
      const old = this.ups.get(up.name);
      const servers = new Map<string, ServerControl>();
      for (const s of up.servers) {
        const c = old?.servers.get(s.id) ?? newControl(settings, now);
        c.limit = clamp(c.limit, settings);
        c.resumeLimit = clamp(c.resumeLimit, settings);
        servers.set(s.id, c);
      }
      next.set(up.name, { settings, servers, queued: old?.queued ?? new Map() });
    }
    this.ups = next;
    if (next.size !== 0 && this.timer === null) {
      this.timer = setInterval(() => this.tick(), REPORT_INTERVAL_MS);
      this.timer.unref();
    } else if (next.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** onReport merges one worker's latency samples and queue lengths. */
  onReport(slot: number, pid: number, report: Report): void {
    for (const [name, [queued, servers]] of Object.entries(report)) {
      const u = this.ups.get(name);
      if (!u) continue;
      u.queued.set(slot, [pid, queued]);
      for (const [id, pairs] of Object.entries(servers)) {
        const c = u.servers.get(id);
        // samples of requests admitted before a measurement are not the minimum
        if (!c || c.phase === Phase.Draining) continue;
        for (let i = 0; i + 1 < pairs.length; i += 2) {
          c.samples.set(pairs[i]!, (c.samples.get(pairs[i]!) ?? 0) + pairs[i + 1]!);
          c.sampleCount += pairs[i + 1]!;
        }
      }
    }
  }

  /** tick advances every controller (every report interval) and pushes what changed. */
  private tick(): void {
    const now = Date.now();
    const live = this.host.liveSlots();
    let out: NonNullable<StateSections['concurrency']> | undefined;
    for (const [name, u] of this.ups) {
      const demand = this.demand(name, u, live);
      for (const [id, c] of u.servers) {
        let inFlight = 0;
        for (const n of this.host.inFlightBySlot(name, id).values()) inFlight += n;
        step(c, u.settings, inFlight, now);
        const pushed = [Math.floor(c.limit), ...shares(Math.floor(c.limit), demand)];
        if (!sameNumbers(pushed, c.pushed)) {
          c.pushed = pushed;
          ((out ??= {})[name] ??= {})[id] = pushed;
        }
      }
    }
    if (out) this.host.broadcast({ concurrency: out });
  }

  /** demand returns each live slot's requests in flight to the upstream plus its queued ones. */
  private demand(name: string, u: UpstreamControl, live: Map<number, number | undefined>): number[] {
    let slots = 0;
    for (const slot of live.keys()) slots = Math.max(slots, slot + 1);
    const d = new Array<number>(slots).fill(-1); // -1: no live worker in the slot
    for (const [slot, pid] of live) if (pid !== undefined) d[slot] = 0;
    for (const id of u.servers.keys()) for (const [slot, n] of this.host.inFlightBySlot(name, id)) if (d[slot]! >= 0) d[slot]! += n;
    for (const [slot, [pid, n]] of u.queued) if (live.get(slot) === pid && d[slot]! >= 0) d[slot]! += n;
    return d;
  }

  /** state is every limit and share, for a new or restarted worker. */
  state(): NonNullable<StateSections['concurrency']> | undefined {
    let out: NonNullable<StateSections['concurrency']> | undefined;
    for (const [name, u] of this.ups) for (const [id, c] of u.servers) if (c.pushed.length) ((out ??= {})[name] ??= {})[id] = c.pushed;
    return out;
  }

  /** describe returns a server's controller for /status (undefined: adaptive concurrency off). */
  describe(upstream: string, id: string): { limit: number; minLatencyMs: number; latencyMs: number; measuring: boolean } | undefined {
    const c = this.ups.get(upstream)?.servers.get(id);
    if (!c) return undefined;
    return { limit: Math.floor(c.limit), minLatencyMs: round2(c.minLatencyMs), latencyMs: round2(c.latencyMs), measuring: c.phase !== Phase.Running };
  }

  /** prometheus returns the fulcrum_upstream_concurrency_limit gauge (no lines when no upstream has it). */
  prometheus(esc: (v: string) => string): string[] {
    if (this.ups.size === 0) return [];
    const out = [
      '# HELP fulcrum_upstream_concurrency_limit Adaptive concurrency limit of the server: most requests in flight to it from all workers together.',
      '# TYPE fulcrum_upstream_concurrency_limit gauge',
    ];
    for (const [name, u] of this.ups)
      for (const [id, c] of u.servers) out.push(`fulcrum_upstream_concurrency_limit{upstream="${esc(name)}",server="${esc(id)}"} ${Math.floor(c.limit)}`);
    return out;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

function newControl(s: Settings, now: number): ServerControl {
  // start by measuring the minimum, from minLimit (Envoy starts the same way)
  return {
    limit: s.minLimit,
    resumeLimit: s.minLimit,
    phase: Phase.Draining,
    minLatencyMs: 0,
    latencyMs: 0,
    nextMeasureAt: now,
    windowEnd: now,
    samples: new Map(),
    sampleCount: 0,
    peakInFlight: 0,
    atMinWindows: 0,
    pushed: [],
  };
}

/** step advances one server's controller; inFlight is its requests in flight from all workers. */
function step(c: ServerControl, s: Settings, inFlight: number, now: number): void {
  if (inFlight > c.peakInFlight) c.peakInFlight = inFlight;
  if (c.phase === Phase.Running && now >= c.nextMeasureAt) {
    c.resumeLimit = c.limit;
    c.limit = s.minLimit;
    c.phase = Phase.Draining;
  }
  if (c.phase === Phase.Draining) {
    if (inFlight > s.minLimit) return;
    c.phase = Phase.Measuring;
    clearSamples(c);
    return;
  }
  if (c.phase === Phase.Measuring) {
    if (c.sampleCount < s.minLatencyRequests) return;
    c.minLatencyMs = percentileUs(c.samples, c.sampleCount, s.percentile) / 1000;
    c.latencyMs = c.minLatencyMs;
    c.limit = c.resumeLimit;
    c.phase = Phase.Running;
    c.atMinWindows = 0;
    c.nextMeasureAt = now + s.minLatencyIntervalMs * (1 + (Math.random() * s.jitterPercent) / 100);
    c.windowEnd = now + s.sampleWindowMs;
    c.peakInFlight = inFlight;
    clearSamples(c);
    return;
  }
  if (now < c.windowEnd) return;
  c.windowEnd = now + s.sampleWindowMs;
  if (c.sampleCount === 0) {
    c.peakInFlight = inFlight;
    return;
  }
  c.latencyMs = percentileUs(c.samples, c.sampleCount, s.percentile) / 1000;
  // a window faster than the minimum shows the minimum was measured too high (a cold start, a
  // busy moment): take it at once rather than at the next measurement, as Vegas keeps the lowest
  // round-trip time it has seen
  if (c.latencyMs < c.minLatencyMs) c.minLatencyMs = c.latencyMs;
  const gradient = Math.min(2, Math.max(0.5, (c.minLatencyMs * (1 + s.latencyTolerancePercent / 100)) / Math.max(c.latencyMs, 0.001)));
  const appLimited = gradient >= 1 && c.peakInFlight < c.limit / 2;
  if (!appLimited) {
    const scaled = c.limit * gradient;
    const next = clamp(scaled + HEADROOM, s);
    c.atMinWindows = next === s.minLimit && c.limit === s.minLimit ? c.atMinWindows + 1 : 0;
    c.limit = next;
    if (c.atMinWindows >= AT_MIN_WINDOWS) c.nextMeasureAt = now;
  }
  clearSamples(c);
  c.peakInFlight = inFlight;
}

function clearSamples(c: ServerControl): void {
  c.samples.clear();
  c.sampleCount = 0;
}

function clamp(limit: number, s: Settings): number {
  return Math.min(Math.max(s.maxLimit, s.minLimit), Math.max(s.minLimit, limit));
}

/** percentileUs returns the p-th percentile of bucketed samples (microseconds -> count). */
function percentileUs(samples: Map<number, number>, count: number, p: number): number {
  const keys = [...samples.keys()].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((count * p) / 100));
  let seen = 0;
  for (const k of keys) {
    seen += samples.get(k)!;
    if (seen >= rank) return k;
  }
  return keys[keys.length - 1] ?? 0;
}

/**
 * shares divides a limit among the worker slots by demand (-1: no live worker). Every live slot
 * gets 1 first when the limit covers them all; the rest goes by demand, by largest remainder, so
 * the shares add up to the limit.
 */
function shares(limit: number, demand: number[]): number[] {
  const out = demand.map(() => 0);
  let live = 0;
  let total = 0;
  for (const d of demand)
    if (d >= 0) {
      live++;
      total += d;
    }
  if (live === 0) return out;
  let left = limit;
  if (limit >= live) {
    for (let i = 0; i < demand.length; i++) if (demand[i]! >= 0) out[i] = 1;
    left -= live;
  }
  if (left <= 0) return out;
  // no demand anywhere: an even split
  const weight = (i: number) => (demand[i]! < 0 ? 0 : total === 0 ? 1 : demand[i]!);
  const sum = total === 0 ? live : total;
  const rem: [number, number][] = [];
  let given = 0;
  for (let i = 0; i < demand.length; i++) {
    const exact = (left * weight(i)) / sum;
    const whole = Math.floor(exact);
    out[i]! += whole;
    given += whole;
    if (weight(i) > 0) rem.push([exact - whole, i]);
  }
  rem.sort((a, b) => b[0] - a[0]);
  for (let k = 0; given < left && k < rem.length; k++, given++) out[rem[k]![1]]!++;
  return out;
}

function sameNumbers(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const round2 = (v: number) => Math.round(v * 100) / 100;
