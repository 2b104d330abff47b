/**
 * ServerState bridges a server's configuration to its live state in this worker: requests in
 * flight, availability flags set by the primary (health, ejection, drain) and the accumulators
 * the policies read. Counters change only through countStart/countEnd/countFail/recordLatency.
 * full() is the one admission check: maxConnections and the adaptive concurrency share.
 */
import type { ServerSpec } from '../../config/load.js';
import type { ConnectionPool } from './pool.js';
import { fnv1a } from '../balancer/hashing.js';
import type { ServerMetrics } from '../obs/metrics.js';
import { REPORT_INTERVAL_MS } from '../../ipc.js';
import type { LatencyRecorder } from '../../util/latency-recorder.js';

/** time constant of the least-time EWMA decay (Finagle's peak-EWMA default is 10 s) */
const EWMA_TAU_MS = 10_000;
/** time constant of the running mean of the other workers' in-flight count */
const REMOTE_MEAN_TAU_MS = 1000;
/** weight of the other workers' estimated count against this worker's own (see remoteInFlight) */
const REMOTE_WEIGHT = 0.5;
/**
 * how old a pushed count already is when it arrives, on average: half a report interval until the
 * worker reports it, half a push interval until the primary sends the merge on
 */
const REMOTE_AGE_AT_ARRIVAL_MS = REPORT_INTERVAL_MS;

export class ServerState {
  /** requests in flight from this worker */
  inFlight = 0;
  /**
   * requests in flight from the other workers, as last merged by the primary (up to ~200 ms old):
   * what maxConnections counts, a bound rather than an estimate
   */
  remotePushed = 0;
  /** running mean of remotePushed at remoteAt (see remoteInFlight) */
  private remoteMean = 0;
  /** performance.now() when remotePushed arrived */
  private remoteAt = 0;
  /** set false by active health checks (primary) */
  healthy = true;
  /** set by passive health checks (primary decides from the workers' reports) */
  ejected = false;
  /** a drained server gets no new requests; in-flight ones finish */
  drained = false;
  /** smooth weighted round-robin accumulator (nginx's current_weight) */
  currentWeight = 0;
  /** 32-bit hash of the id (consistent hashing) */
  readonly idHash: number;
  private ewma = 0;
  private ewmaAt = 0;
  /** failures of real requests since the last report (passive health) */
  fails = 0;
  /** end of the slow start (epoch ms; 0: none), set by the primary */
  slowStartUntil = 0;
  /** the upstream's slowStartMs */
  slowStartMs = 0;
  /**
   * this worker's share of the server's adaptive concurrency limit, pushed by the primary
   * (concurrency-share.ts; Infinity: adaptive concurrency off)
   */
  admitLimit = Infinity;
  /** latencies since the last report, for the primary's concurrency controller (null: adaptive concurrency off) */
  latencySamples: LatencyRecorder | null = null;
  /** what this server records (set by Upstream; outlives reloads) */
  metrics!: ServerMetrics;
  /** per-class request counts of this server, by route index of this config generation */
  readonly routeCodes: (Float64Array | undefined)[] = [];

  constructor(
    readonly spec: ServerSpec,
    readonly pool: ConnectionPool,
  ) {
    this.idHash = fnv1a(spec.id);
  }

  get id(): string {
    return this.spec.id;
  }

  /** effective weight: the configured one, ramped from 1% during slow start */
  get weight(): number {
    if (this.slowStartUntil === 0) return this.spec.weight;
    const left = this.slowStartUntil - Date.now();
    if (left <= 0 || this.slowStartMs <= 0) {
      this.slowStartUntil = 0;
      return this.spec.weight;
    }
    const f = 1 - left / this.slowStartMs;
    return this.spec.weight * Math.max(f, 0.01);
  }

  /** available reports whether the server may receive a new request. */
  available(): boolean {
    return this.healthy && !this.ejected && !this.drained;
  }

  /**
   * full reports whether the server is at its maxConnections (this worker's and the others'
   * requests) or at this worker's share of its adaptive concurrency limit. The pick and the queue
   * both ask it, so a request over the limit waits in the upstream's queue like one over
   * maxConnections.
   */
  full(): boolean {
    if (this.inFlight >= this.admitLimit) return true;
    const max = this.spec.maxConnections;
    return max !== 0 && this.inFlight + this.remotePushed >= max;
  }

  /** clearRemote forgets the other workers' count (sharedInFlight off): the estimate is 0 at once. */
  clearRemote(): void {
    this.remotePushed = 0;
    this.remoteMean = 0;
    this.remoteAt = 0;
  }

  /** setRemote takes the other workers' in-flight count as the primary pushed it. */
  setRemote(n: number, now: number): void {
    // the running mean up to now (a time-weighted EWMA of the pushed counts, held between pushes)
    if (this.remoteAt !== 0)
      this.remoteMean = this.remotePushed + (this.remoteMean - this.remotePushed) * Math.exp(-(now - this.remoteAt) / REMOTE_MEAN_TAU_MS);
    else this.remoteMean = n;
    this.remotePushed = n;
    this.remoteAt = now;
  }

  /**
   * remoteInFlight is the other workers' requests in flight as the load-aware policies count them.
   * The pushed count is a sample 100-200 ms old; taken as it is, every worker corrects, at the same
   * moment, an imbalance that has already gone and sends its new requests to the same server (the
   * herd of Mitzenmacher, "How useful is old information?", 2000). A sample says something about
   * now only while the requests it counted are still there, about one response time of that
   * server; after that the best guess is the long-run mean. So the sample regresses to its running
   * mean (1 s) with the server's latency as time constant: for 10 ms requests a 100 ms old sample
   * says almost nothing, for slow or held ones it still holds.
   *
   * That estimate counts at half weight. The running mean is the same for every worker and moves
   * slowly, so at full weight all workers answer the same lasting skew at once and overshoot it
   * together (a herd one second long; in a model of 8 workers it undid most of the gain); at half
   * weight the corrections of two workers add up to at most the skew. A worker's own count is
   * exact and live: it sees its own picks at once.
   */
  get remoteInFlight(): number {
    const sample = this.remotePushed;
    const dev = this.remoteMean - sample;
    if (dev === 0) return sample * REMOTE_WEIGHT;
    const now = performance.now();
    const age = now - this.remoteAt;
    const lat = this.ewmaAtTime(now);
    const fresh = lat === 0 ? 0 : Math.exp(-(age + REMOTE_AGE_AT_ARRIVAL_MS) / lat);
    // mean(now) = sample + dev * e^(-age/tau); estimate = mean + (sample - mean) * fresh
    return (sample + dev * Math.exp(-age / REMOTE_MEAN_TAU_MS) * (1 - fresh)) * REMOTE_WEIGHT;
  }

  countStart(): void {
    this.inFlight++;
  }

  countEnd(): void {
    this.inFlight--;
  }

  /** countFail records a failed request (connect error, timeout, reset, a failStatus). */
  countFail(): void {
    this.fails++;
  }

  /**
   * ewmaMs is the peak-EWMA of the time to the response head, in ms (least-time), decayed towards
   * 0 for the time since the last sample, as Finagle's PeakEwma does when it reads its cost: a
   * server that was slow once is tried again after a while instead of being starved for good.
   */
  get ewmaMs(): number {
    return this.ewmaAtTime(performance.now());
  }

  private ewmaAtTime(now: number): number {
    if (this.ewma === 0) return 0;
    return this.ewma * Math.exp(-(now - this.ewmaAt) / EWMA_TAU_MS);
  }

  /** recordLatency feeds the peak-EWMA: a slower sample is taken at once, faster ones decay in. */
  recordLatency(ms: number, now: number): void {
    if (this.latencySamples !== null) this.latencySamples.record(ms * 1000);
    if (this.ewmaAt === 0) this.ewma = ms;
    else {
      const w = Math.exp(-(now - this.ewmaAt) / EWMA_TAU_MS);
      const cur = this.ewma * w;
      this.ewma = ms >= cur ? ms : cur + ms * (1 - w);
    }
    this.ewmaAt = now;
  }
}
