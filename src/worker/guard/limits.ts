/**
 * Size limits and the timeouts fulcrum enforces itself once the engine hands over a request.
 *
 * uWS 20.30 owns the socket until the request head is parsed: the header read timeout and the
 * keep-alive idle timeout are its built-in 10 s (closed without a response, 10-16 s given its
 * 4 s timer granularity), and a head larger than about 19 KiB or with more than 48 fields is
 * refused by uWS itself. Everything after the head is ours: the body idle timeout and the total
 * request time are checked by one sweep per worker (SWEEP_MS granularity), not a timer per request.
 */
import type { Config } from '../../config/schema.js';
import type { ErrorKind } from '../../errors.js';

export type EdgeLimits = Config['limits'] & {
  /** timeouts.bodyIdleMs */
  bodyIdleMs: number;
  /** timeouts.requestMs (0: no limit) */
  requestMs: number;
  /** tls.hsts: Strict-Transport-Security for HTTPS responses (null: none) */
  hsts: string | null;
};

/**
 * targetRefusal checks a request target before routing: longer than limits.maxUrlBytes (414), or
 * carrying a fragment (never sent by a client) or DEL (the one control character uWS lets
 * through) (400); null when it passes.
 */
export function targetRefusal(target: string, maxUrlBytes: number): 'url-too-long' | 'malformed-request' | null {
  if (target.length > maxUrlBytes) return 'url-too-long';
  if (target.indexOf('#') !== -1 || target.indexOf('\x7f') !== -1) return 'malformed-request';
  return null;
}

/** What the sweep needs from a request in flight. */
export interface Expirable {
  /** expire ends the request: the kind's status if nothing was sent yet, else a close */
  expire(kind: ErrorKind, reason: string): void;
  readonly startedAt: number;
  /** performance.now() of the last body bytes while the body is being read; -1 when not reading */
  bodyAt: number;
  /** where the request sits in the tracking slots (-1: not tracked); owned by this module */
  trackSlot: number;
}

/** the sweep's resolution: a timeout fires between its value and its value + SWEEP_MS */
export const SWEEP_MS = 250;

// Requests in flight, in a slot array with swap-remove, not a Set: a Set reallocates its hash
// table as requests come and go, and every table it drops, once promoted to the old generation,
// still points at the young requests it held. V8's scavenger treats old objects as live, so
// those requests (and everything they reference) survived every scavenge and were promoted:
// ~3 MB per scavenge at 35k req/s, 5-6 ms scavenge pauses, a p99 of ~10 ms (BENCHMARKS.md).
// A freed slot is nulled, so a finished request is referenced from nowhere.
let slots: (Expirable | null)[] = new Array<Expirable | null>(256).fill(null);
let count = 0;
let timer: NodeJS.Timeout | null = null;

export function trackRequest(r: Expirable): void {
  if (count === slots.length) slots = slots.concat(new Array<Expirable | null>(count).fill(null));
  slots[count] = r;
  r.trackSlot = count++;
}

export function untrackRequest(r: Expirable): void {
  const i = r.trackSlot;
  if (i < 0) return;
  r.trackSlot = -1;
  const last = slots[--count]!;
  slots[count] = null;
  if (last !== r) {
    slots[i] = last;
    last.trackSlot = i;
  }
}

/** startTimeoutSweep checks every request in flight every SWEEP_MS against the current limits. */
export function startTimeoutSweep(limits: () => EdgeLimits): void {
  if (timer) return;
  timer = setInterval(() => {
    if (count === 0) return;
    const { bodyIdleMs, requestMs } = limits();
    const now = performance.now();
    // downwards: expire() untracks, which moves the last request (already seen) into slot i
    for (let i = count - 1; i >= 0; i--) {
      const r = slots[i];
      if (r == null) continue;
      if (r.bodyAt >= 0 && now - r.bodyAt > bodyIdleMs) r.expire('body-idle', `no request body bytes for ${bodyIdleMs} ms`);
      else if (requestMs > 0 && now - r.startedAt > requestMs) r.expire('request-timeout', `request took longer than ${requestMs} ms`);
    }
  }, SWEEP_MS);
  timer.unref();
}
