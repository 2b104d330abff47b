/**
 * The engine's connection timers: one sweep per worker instead of a timer per connection. Each
 * connection holds one deadline and the kind of wait it is in (head, keep-alive idle, TLS
 * handshake, discarding an unread body, lingering before close); the sweep checks every live
 * connection every SWEEP_MS and calls expire() on the late ones. Setting a deadline is a store
 * of a number: the clock is the sweep's own (read at each tick), so a state change costs no
 * clock call and no timer allocation. A deadline fires between its value and SWEEP_MS later.
 *
 * Each cut is counted in fulcrum_client_timeouts_total{kind} (the proxy's body-idle and
 * whole-request timeouts live in src/worker/guard/limits.ts and count there).
 */
import { counter } from '../obs/metrics.js';

export const enum Wait {
  None,
  /** a request head is due (from its first byte, or from accept on a new connection) */
  Head,
  /** idle between requests */
  KeepAlive,
  /** the TLS handshake is due */
  Handshake,
  /** dropping the rest of a request body nobody read */
  Discard,
  /** closing: draining what the client still sends so that it reads our last response */
  Linger,
}

/** What the sweep needs from a connection. */
export interface Timed {
  wait: Wait;
  /** the sweep clock's value (ms) at which the wait ends */
  deadline: number;
  /** the slot in the sweep (-1: not registered); owned by this module */
  slot: number;
  expire(): void;
}

const SWEEP_MS = 250;
const family = counter('fulcrum_client_timeouts_total', 'Client connections cut by a timeout of the engine, by what was awaited.', ['kind']);
const KIND_LABELS = ['', 'header', 'keep-alive', 'handshake', 'discard', ''];
const counters = KIND_LABELS.map((k) => (k ? family.labels(k) : null));

/** countTimeout counts one cut of this kind (Linger is not counted: the exchange was complete). */
export function countTimeout(w: Wait): void {
  counters[w]?.inc();
}

export function timeoutLabel(w: Wait): string {
  return KIND_LABELS[w] || 'linger';
}

let slots: (Timed | null)[] = new Array<Timed | null>(64).fill(null);
let count = 0;
let timer: NodeJS.Timeout | null = null;
let clock = performance.now();

/** now returns the sweep clock (refreshed every SWEEP_MS while connections exist). */
export function now(): number {
  return clock;
}

export function track(t: Timed): void {
  if (count === slots.length) slots = slots.concat(new Array<Timed | null>(count).fill(null));
  if (count === 0) clock = performance.now();
  slots[count] = t;
  t.slot = count++;
  if (timer === null) {
    timer = setInterval(sweep, SWEEP_MS);
    timer.unref();
  }
}

export function untrack(t: Timed): void {
  const i = t.slot;
  if (i < 0) return;
  t.slot = -1;
  const last = slots[--count]!;
  slots[count] = null;
  if (last !== t) {
    slots[i] = last;
    last.slot = i;
  }
  if (count === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

function sweep(): void {
  clock = performance.now();
  // downwards: expire() may untrack, which moves the last connection (already seen) into slot i
  for (let i = count - 1; i >= 0; i--) {
    const t = slots[i];
    if (t != null && t.wait !== Wait.None && clock >= t.deadline) t.expire();
  }
}
