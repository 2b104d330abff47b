/**
 * ServerQueue holds the requests of an upstream that found every available server full (at its
 * maxConnections or its share of the adaptive concurrency limit): bounded (queueSize; beyond it
 * the request gets 503 at once), FIFO, each waiting at most queueTimeoutMs (then 503). Both 503s
 * carry Retry-After (RFC 9110 10.2.3: the service is overloaded, not broken). It is drained when a
 * request of the upstream ends and when the primary pushes new in-flight counts, availability or
 * concurrency shares.
 */
import { FixedQueue } from '../../util/fixed-queue.js';
import type { Upstream } from './upstream.js';

/** QueueWaiter is a request waiting for a server (implemented by ProxyRequest). */
export interface QueueWaiter {
  /** pick again now that a server may have room; true when the waiter took a server (or gave up) */
  onQueueTurn(): boolean;
  onQueueTimeout(): void;
  queueCancelled: boolean;
  queueDeadline: number;
}

const TICK_MS = 50;

export class ServerQueue {
  private readonly q = new FixedQueue<QueueWaiter>();
  private timer: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    readonly up: Upstream,
    private readonly size: number,
    private readonly timeoutMs: number,
  ) {}

  get length(): number {
    return this.q.length;
  }

  /** add queues a waiter; false when the queue is full. */
  add(w: QueueWaiter): boolean {
    if (this.q.length >= this.size) return false;
    w.queueCancelled = false;
    w.queueDeadline = Date.now() + this.timeoutMs;
    this.q.push(w);
    if (this.timer === null) {
      this.timer = setInterval(() => this.expire(), TICK_MS);
      this.timer.unref();
    }
    return true;
  }

  /** drain gives waiters, in order, a turn while servers have room. */
  drain(): void {
    if (this.draining) return; // a waiter's turn ended a request synchronously
    this.draining = true;
    try {
      while (!this.q.isEmpty()) {
        const w = this.q.peek()!;
        if (w.queueCancelled) {
          this.q.shift();
          continue;
        }
        if (!w.onQueueTurn()) break;
        this.q.shift();
      }
    } finally {
      this.draining = false;
    }
    this.stopIfEmpty();
  }

  private expire(): void {
    const now = Date.now();
    while (!this.q.isEmpty()) {
      const w = this.q.peek()!;
      if (!w.queueCancelled && w.queueDeadline > now) break;
      this.q.shift();
      if (!w.queueCancelled) w.onQueueTimeout();
    }
    this.drain();
  }

  private stopIfEmpty(): void {
    if (this.q.isEmpty() && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
