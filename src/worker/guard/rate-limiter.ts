/**
 * Request rate limiting: a token bucket per client key, whose budget is shared by all workers.
 *
 * The primary owns the cluster-wide bucket (src/primary/rate-limit-table.ts). Each worker counts
 * what it admits and reports the counts in its batched report (every REPORT_INTERVAL_MS); the
 * primary debits the buckets and sends each worker, per active key, the tokens left, this
 * worker's share of them, and how many of this worker's admissions that push has counted. Between
 * two pushes a worker admits at most its share of the tokens left (refilled at the key's rate),
 * minus what it admitted that the push has not counted yet. The shares of all workers come from
 * the same push and sum to 1, so N workers together never spend more than one bucket: two
 * workers admit one burst. (Before any push for a key, each worker spends 1/N of it.)
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
  /** this worker's share of the tokens (0..1), as last pushed (1/N before the first push) */
  share: number;
  /** admitted that the last push did not count: unacked + pending */
  used: number;
  /** admitted since the last report */
  pending: number;
  /** reported, but not yet counted by a push (a report can cross a push on the way) */
  unacked: number;
  lastSeen: number;
}

const buckets = new Map<string, Bucket>();
/** a bucket idle this long (and full again) is forgotten */
const FORGET_MS = 60_000;

/** RateSubject is what a bucket key is read from: the request's fields and the client address. */
interface RateSubject {
  field(name: string): string;
  readonly peer: { readonly ip: string };
}

/** rateKey returns the bucket key of a request under `scope`: its prefix, then the header's value or else the client address. */
export function rateKey(scope: RateScope, ex: RateSubject): string {
  return scope.prefix + ((scope.header !== null && ex.field(scope.header)) || ex.peer.ip);
}

function newBucket(scope: RateScope, now: number): Bucket {
  return { rate: scope.rate, burst: scope.burst, tokens: scope.burst, at: now, share: 1 / scope.workers, used: 0, pending: 0, unacked: 0, lastSeen: now };
}

/** refilled estimates the tokens of the cluster-wide bucket now: the last pushed count, refilled at the key's rate since. */
function refilled(b: Bucket, now: number): number {
  return Math.min(b.burst, b.tokens + (b.rate * (now - b.at)) / 1000);
}

/** spendable returns the tokens this worker may still spend from `b` now: its share of the refilled bucket, less what no push has counted. */
function spendable(b: Bucket, now: number): number {
  return refilled(b, now) * b.share - b.used;
}

/** waitSeconds is the Retry-After of a refusal: until one token is this worker's again. */
function waitSeconds(avail: number, b: Bucket, workers: number): number {
  return Math.max(1, Math.ceil((1 - avail) / (b.rate * Math.max(b.share, 1 / workers))));
}

/**
 * take admits one request for `key` under `scope`: returns 0 when admitted, else the seconds
 * the client should wait (for Retry-After).
 */
export function take(scope: RateScope, key: string): number {
  const now = performance.now();
  let b = buckets.get(key);
  if (b === undefined) {
    b = newBucket(scope, now);
    buckets.set(key, b);
  }
  b.lastSeen = now;
  b.rate = scope.rate; // also fills in buckets first learnt from the primary
  b.burst = scope.burst;
  const avail = spendable(b, now);
  if (avail >= 1) {
    b.used++;
    b.pending++;
    return 0;
  }
  return waitSeconds(avail, b, scope.workers);
}

/** What peekRate found: the bucket as take() would read it, and take()'s verdict. */
export interface RatePeek {
  /** this worker knows the bucket (false: a new one, full) */
  known: boolean;
  /** tokens in the cluster-wide bucket now, as this worker estimates them (refilled since the last push) */
  tokens: number;
  /** what this worker may spend of them now */
  spendable: number;
  /** take()'s answer: 0 admitted, else Retry-After seconds */
  wait: number;
}

/**
 * peekRate is take() without taking (`fulcrum explain`): the same bucket (this worker's, or a new
 * one as take() would create it), the same arithmetic, nothing changed. `tokens` replaces the
 * bucket's tokens with a count known elsewhere (the primary's cluster-wide bucket, spent whole).
 */
export function peekRate(scope: RateScope, key: string, tokens?: number): RatePeek {
  const now = performance.now();
  const found = buckets.get(key);
  const b = found === undefined ? newBucket(scope, now) : { ...found, rate: scope.rate, burst: scope.burst };
  if (tokens !== undefined) Object.assign(b, { tokens, at: now, share: 1, used: 0 });
  const avail = spendable(b, now);
  return {
    known: found !== undefined || tokens !== undefined,
    tokens: refilled(b, now),
    spendable: avail,
    wait: avail >= 1 ? 0 : waitSeconds(avail, b, scope.workers),
  };
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
      if (b.pending > 0) {
        (out ??= {})[k] = b.pending;
        b.unacked += b.pending;
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
        if (k.indexOf(':') < 0) continue;
        buckets.set(k, { rate: 0, burst: 0, tokens: v[0], at: now, share: v[1], used: 0, pending: 0, unacked: 0, lastSeen: now });
        continue;
      }
      b.tokens = v[0];
      b.share = v[1];
      b.at = now;
      // what this worker admitted that the primary has not counted yet (reports on the way, and
      // what was admitted since the last report) still comes off its share
      b.unacked = Math.max(0, b.unacked - v[2]);
      b.used = b.unacked + b.pending;
    }
  });
}
