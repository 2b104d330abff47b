/**
 * ServerState bridges a server's configuration to its live state in this worker: requests in
 * flight, availability flags set by the primary (health, ejection, drain) and the accumulators
 * the policies read. Counters change only through countStart/countEnd/countFail/recordLatency.
 */
import type { ServerSpec } from '../../config/load.js';
import type { ConnectionPool } from './pool.js';
import { fnv1a } from '../balancer/hashing.js';
import type { ServerMetrics } from '../obs/metrics.js';

/** time constant of the least-time EWMA decay (Finagle's peak-EWMA default is 10 s) */
const EWMA_TAU_MS = 10_000;

export class ServerState {
  /** requests in flight from this worker */
  inFlight = 0;
  /** requests in flight from the other workers, as last merged by the primary */
  remoteInFlight = 0;
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

  /** full reports whether the server is at its maxConnections (this worker's and the others' requests). */
  full(): boolean {
    const max = this.spec.maxConnections;
    return max !== 0 && this.inFlight + this.remoteInFlight >= max;
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
    if (this.ewma === 0) return 0;
    return this.ewma * Math.exp(-(performance.now() - this.ewmaAt) / EWMA_TAU_MS);
  }

  /** recordLatency feeds the peak-EWMA: a slower sample is taken at once, faster ones decay in. */
  recordLatency(ms: number, now: number): void {
    if (this.ewmaAt === 0) this.ewma = ms;
    else {
      const w = Math.exp(-(now - this.ewmaAt) / EWMA_TAU_MS);
      const cur = this.ewma * w;
      this.ewma = ms >= cur ? ms : cur + ms * (1 - w);
    }
    this.ewmaAt = now;
  }
}
