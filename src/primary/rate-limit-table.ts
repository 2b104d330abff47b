/**
 * RateLimitTable is the primary's side of rate limiting: the cluster-wide token buckets. Worker
 * reports debit them; every REPORT_INTERVAL_MS each worker is sent, for the buckets that changed,
 * [tokens left, its share, its admissions counted since the previous push] (see
 * src/worker/guard/rate-limiter.ts for how workers spend them).
 *
 * Shares are computed here, from every worker's traffic over the same push intervals, so the
 * shares of one push sum to exactly 1 and the workers together never spend more than the bucket.
 * (Each worker estimating its own share from its traffic against a cluster total pushed at
 * another moment let shares add up to 2: after a pause the last pushed total was stale and
 * tiny, each worker's own count dwarfed it, and both spent the whole burst.) Every worker keeps
 * a floor of FLOOR_PER_WORKER / N, so a client that moves to another worker (a new connection)
 * is never refused while its bucket has tokens; the rest follows each worker's share of the key's
 * traffic, so a client on one keep-alive connection can use most of the bucket at once.
 */
import { REPORT_INTERVAL_MS } from '../ipc.js';
import type { LoadedConfig } from '../config/load.js';
import type { Supervisor } from './supervisor.js';

interface Entry {
  tokens: number;
  at: number;
  rate: number;
  burst: number;
  /** per worker slot: admitted since the last push */
  cur: number[];
  /** per worker slot: requests per push interval (moving average) */
  load: number[];
}

const EWMA = 0.5;
/** the part of the bucket every worker may spend whatever its traffic, divided by N */
const FLOOR_PER_WORKER = 0.5;

export class RateLimitTable {
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** sharedState hook (src/primary/shared-rate-limit.ts): requests admitted by this host's workers */
  onDebit: ((key: string, n: number, rate: number, burst: number) => void) | null = null;

  constructor(private readonly sup: Supervisor) {}

  /** scope returns [rate, burst] for a key's prefix under the live config. */
  private scope(cfg: LoadedConfig, key: string): [number, number] | undefined {
    if (key.startsWith('g:')) {
      const g = cfg.raw.rateLimit;
      return g ? [g.ratePerSecond, g.burst] : undefined;
    }
    const m = /^r(\d+):/.exec(key);
    const r = m ? cfg.raw.routes[Number(m[1])]?.rateLimit : undefined;
    return r ? [r.ratePerSecond, r.burst] : undefined;
  }

  private entry(k: string, now: number): Entry | undefined {
    let e = this.entries.get(k);
    if (e === undefined) {
      const sc = this.scope(this.sup.config, k);
      if (!sc) return undefined;
      e = { tokens: sc[1], at: now, rate: sc[0], burst: sc[1], cur: [], load: [] };
      this.entries.set(k, e);
    }
    return e;
  }

  /** onReport debits the buckets with what one worker (slot) admitted since its last report. */
  onReport(slot: number, counts: Record<string, number>): void {
    const now = performance.now();
    for (const k in counts) {
      const e = this.entry(k, now);
      if (e === undefined) continue;
      refill(e, now);
      const n = counts[k]!;
      // debt is kept (a worker may overshoot a little), down to one burst
      e.tokens = Math.max(-e.burst, e.tokens - n);
      e.cur[slot] = (e.cur[slot] ?? 0) + n;
      this.dirty.add(k);
      this.onDebit?.(k, n, e.rate, e.burst);
    }
    this.start();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.push(), REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  private push(): void {
    const now = performance.now();
    const n = Math.max(1, this.sup.config.workers);
    const floor = FLOOR_PER_WORKER / n;
    let states: Record<string, [number, number, number]>[] | undefined;
    for (const [k, e] of this.entries) {
      let total = 0;
      let busy = this.dirty.has(k);
      for (let i = 0; i < n; i++) {
        const c = e.cur[i] ?? 0;
        if (c > 0) busy = true;
        e.load[i] = (e.load[i] ?? 0) * (1 - EWMA) + c * EWMA;
        total += e.load[i]!;
      }
      refill(e, now);
      if (busy || total > 0.01) {
        states ??= Array.from({ length: n }, () => ({}));
        for (let i = 0; i < n; i++) {
          const share = total > 0 ? floor + (1 - n * floor) * (e.load[i]! / total) : 1 / n;
          states[i]![k] = [e.tokens, share, e.cur[i] ?? 0];
        }
      } else if (e.tokens >= e.burst) this.entries.delete(k);
      e.cur.length = 0;
    }
    this.dirty.clear();
    if (states) {
      for (let i = 0; i < n; i++) this.sup.sendState(i, { rateLimit: states[i]! });
    } else if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** setTokens replaces a bucket's tokens with the shared (Redis) value; pushed to the workers with the next push. */
  setTokens(k: string, tokens: number): void {
    const now = performance.now();
    const e = this.entry(k, now);
    if (e === undefined) return;
    e.tokens = Math.max(-e.burst, Math.min(e.burst, tokens));
    e.at = now;
    this.dirty.add(k);
    this.start();
  }

  /** tokens returns a bucket's tokens now (refilled since its last change) without changing it; undefined: no bucket (full) (GET /explain). */
  tokens(key: string): number | undefined {
    const e = this.entries.get(key);
    return e === undefined ? undefined : refilled(e, performance.now());
  }

  /** stats for /status */
  get size(): number {
    return this.entries.size;
  }
}

function refilled(e: Entry, now: number): number {
  return Math.min(e.burst, e.tokens + (e.rate * (now - e.at)) / 1000);
}

function refill(e: Entry, now: number): void {
  e.tokens = refilled(e, now);
  e.at = now;
}
