/**
 * Request rate limiting: a token bucket per client key, whose budget is shared by all workers.
 *
 * The primary owns the cluster-wide bucket (src/primary/rate-limit-table.ts). Each worker counts
 * what it admits and reports the counts in its batched report (every REPORT_INTERVAL_MS); the
 * primary debits the buckets and pushes back, per active key, the tokens left and the key's
 * request rate over all workers. Between two pushes a worker spends only its share of the tokens
 * left: the fraction of the key's traffic it carried lately (1/N for a key it has not seen), so
 * N workers do not multiply a client's allowance. A client whose traffic suddenly moves to
 * other workers can overshoot by at most the share it had for one push interval (~100-200 ms).
 *
 * Per request: one Map lookup, a few multiplications, no allocation for a known key.
 */
import type { RateLimitConfig } from '../../config/schema.js';
import { addReporter, onState } from '../obs/report.js';

/** RateScope is one compiled rateLimit section: the global one, or a route's own. */
export interface RateScope {
  /** key prefix: "g:" or "r<index>:" (each scope has its own buckets) */
  prefix: string;
  rate: number;
  burst: number;
  /** lower-case header name whose value keys the bucket, or null for the client address */
  header: string | null;
  /** how many workers share the budget (each spends its share) */
  workers: number;
}

export function compileRateScope(c: RateLimitConfig, prefix: string, workers: number): RateScope {
  return {
    prefix,
    rate: c.ratePerSecond,
    burst: c.burst,
    header: typeof c.key === 'object' ? c.key.header.toLowerCase() : null,
    workers: Math.max(1, workers),
  };
}

interface Bucket {
  rate: number;
  burst: number;
  /** tokens in the cluster-wide bucket at `at` (as last pushed by the primary) */
  tokens: number;
  at: number;
  /** the key's requests per report interval over all workers (primary's average) */
  load: number;
  /** this worker's requests per report interval (average) */
  mine: number;
  /** admitted since the last push */
  used: number;
  /** admitted since the last report */
  pending: number;
  lastSeen: number;
}

const buckets = new Map<string, Bucket>();
const EWMA = 0.5;
/** a bucket idle this long (and full again) is forgotten */
const FORGET_MS = 60_000;

/**
 * take admits one request for `key` under `scope`: returns 0 when admitted, else the seconds
 * the client should wait (for Retry-After).
 */
export function take(scope: RateScope, key: string): number {
  const now = performance.now();
  let b = buckets.get(key);
  if (b === undefined) {
    b = { rate: scope.rate, burst: scope.burst, tokens: scope.burst, at: now, load: 0, mine: 0, used: 0, pending: 0, lastSeen: now };
    buckets.set(key, b);
  }
  b.lastSeen = now;
  b.rate = scope.rate; // also fills in buckets first learnt from the primary
  b.burst = scope.burst;
  const est = Math.min(b.burst, b.tokens + (b.rate * (now - b.at)) / 1000);
  const workers = scope.workers;
  const frac = b.load > 0 ? Math.min(1, Math.max(b.mine / b.load, 1 / workers)) : 1 / workers;
  const avail = est * frac - b.used;
  if (avail >= 1) {
    b.used++;
    b.pending++;
    return 0;
  }
  return Math.max(1, Math.ceil((1 - avail) / (b.rate * frac)));
}

let registered = false;

/** registerRateLimiter hooks the limiter into the report/state channel (once per worker). */
export function registerRateLimiter(): void {
  if (registered) return;
  registered = true;
  addReporter('rateLimit', () => {
    let out: Record<string, number> | undefined;
    const now = performance.now();
    for (const [k, b] of buckets) {
      b.mine = b.mine * (1 - EWMA) + b.pending * EWMA;
      if (b.pending > 0) {
        (out ??= {})[k] = b.pending;
        b.pending = 0;
      } else if (now - b.lastSeen > FORGET_MS) buckets.delete(k);
    }
    return out;
  });
  onState('rateLimit', (state) => {
    const now = performance.now();
    for (const k in state) {
      const v = state[k]!;
      const b = buckets.get(k);
      if (b === undefined) {
        // another worker's client: remember its bucket so a first request here cannot refill it
        const sep = k.indexOf(':');
        if (sep < 0) continue;
        buckets.set(k, { rate: 0, burst: 0, tokens: v[0], at: now, load: v[1], mine: 0, used: 0, pending: 0, lastSeen: now });
        continue;
      }
      b.tokens = v[0];
      b.load = v[1];
      b.at = now;
      // what was admitted since the last report is not in the primary's count yet
      b.used = b.pending;
    }
  });
}
