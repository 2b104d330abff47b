/**
 * RateLimitTable is the primary's side of rate limiting: the cluster-wide token buckets. Worker
 * reports debit them; every REPORT_INTERVAL_MS the buckets that changed are pushed to all
 * workers as [tokens left, requests per interval over all workers] (see
 * src/worker/guard/rate-limiter.ts for how workers spend them).
 */
import { REPORT_INTERVAL_MS, type ReportSections } from '../ipc.js';
import type { LoadedConfig } from '../config/load.js';
import type { Supervisor } from './supervisor.js';

interface Entry {
  tokens: number;
  at: number;
  load: number;
  cur: number;
  rate: number;
  burst: number;
}

const EWMA = 0.5;

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

  onReport(sections: ReportSections): void {
    const counts = sections.rateLimit;
    if (!counts) return;
    const now = performance.now();
    const cfg = this.sup.config;
    for (const k in counts) {
      let e = this.entries.get(k);
      if (e === undefined) {
        const sc = this.scope(cfg, k);
        if (!sc) continue;
        e = { tokens: sc[1], at: now, load: 0, cur: 0, rate: sc[0], burst: sc[1] };
        this.entries.set(k, e);
      }
      refill(e, now);
      const n = counts[k]!;
      // debt is kept (a worker may overshoot a little), down to one burst
      e.tokens = Math.max(-e.burst, e.tokens - n);
      e.cur += n;
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
    let state: Record<string, [number, number]> | undefined;
    for (const [k, e] of this.entries) {
      const busy = e.cur > 0 || this.dirty.has(k);
      e.load = e.load * (1 - EWMA) + e.cur * EWMA;
      e.cur = 0;
      refill(e, now);
      if (busy || e.load > 0.01) (state ??= {})[k] = [e.tokens, e.load];
      else if (e.tokens >= e.burst) this.entries.delete(k);
    }
    this.dirty.clear();
    if (state) this.sup.broadcastState({ rateLimit: state });
    else if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** setTokens replaces a bucket's tokens with the shared (Redis) value; pushed to the workers with the next push. */
  setTokens(k: string, tokens: number): void {
    const now = performance.now();
    let e = this.entries.get(k);
    if (e === undefined) {
      const sc = this.scope(this.sup.config, k);
      if (!sc) return;
      e = { tokens: sc[1], at: now, load: 0, cur: 0, rate: sc[0], burst: sc[1] };
      this.entries.set(k, e);
    }
    e.tokens = Math.max(-e.burst, Math.min(e.burst, tokens));
    e.at = now;
    this.dirty.add(k);
    this.start();
  }

  /** stats for /status */
  get size(): number {
    return this.entries.size;
  }
}

function refill(e: Entry, now: number): void {
  e.tokens = Math.min(e.burst, e.tokens + (e.rate * (now - e.at)) / 1000);
  e.at = now;
}
