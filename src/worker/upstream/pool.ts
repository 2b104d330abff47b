/**
 * ConnectionPool keeps one worker's connections to one server: idle keep-alive connections on a
 * stack (the most recently used first, so the warmest socket serves and the coldest times out),
 * a cap on all connections, and a FIFO of requests waiting for one when the cap is reached.
 */
import { UpstreamConnection } from './connection.js';
import { FixedQueue } from '../../util/fixed-queue.js';

/** PoolWaiter is a request waiting for a connection. */
export interface PoolWaiter {
  /** called with a connection (fresh or idle) once one is free */
  onPoolConnection(conn: UpstreamConnection, fromIdle: boolean): void;
  /** called when no connection became free within the wait time */
  onPoolTimeout(): void;
  /** set by the waiter when it no longer wants a connection (client gone) */
  poolCancelled: boolean;
  poolDeadline: number;
}

export interface PoolOptions {
  host: string;
  port: number;
  maxConnections: number;
  maxIdle: number;
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

export class ConnectionPool {
  /** connections opened in total (for tests and metrics) */
  opened = 0;
  private readonly all = new Set<UpstreamConnection>();
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiters = new FixedQueue<PoolWaiter>();
  private waitTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(readonly opts: PoolOptions) {}

  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * acquire returns an idle connection, or a new one while under the cap; otherwise it queues the
   * waiter and returns null. `fresh` skips the idle stack (a retry after a stale keep-alive socket).
   */
  acquire(w: PoolWaiter, fresh = false): { conn: UpstreamConnection; fromIdle: boolean } | null {
    if (!fresh) {
      while (this.idle.length) {
        const c = this.idle.pop()!;
        if (c.usable) return { conn: c, fromIdle: true };
      }
    }
    if (this.all.size < this.opts.maxConnections && !this.closed) return { conn: this.open(), fromIdle: false };
    w.poolCancelled = false;
    w.poolDeadline = Date.now() + this.opts.connectTimeoutMs;
    this.waiters.push(w);
    this.armWaitTimer();
    return null;
  }

  private open(): UpstreamConnection {
    const c = new UpstreamConnection(this);
    this.all.add(c);
    this.opened++;
    return c;
  }

  /** release takes back a connection whose response completed and that may be reused. */
  release(c: UpstreamConnection): void {
    const w = this.nextWaiter();
    if (w) {
      w.onPoolConnection(c, true);
      return;
    }
    if (this.idle.length >= this.opts.maxIdle || this.closed) {
      c.destroy();
      return;
    }
    this.idle.push(c);
  }

  /** forget is called by a connection when its socket closed. */
  forget(c: UpstreamConnection): void {
    if (!this.all.delete(c)) return;
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    // a slot opened: give it to a waiter
    const w = this.closed ? undefined : this.nextWaiter();
    if (w) w.onPoolConnection(this.open(), false);
  }

  private nextWaiter(): PoolWaiter | undefined {
    while (!this.waiters.isEmpty()) {
      const w = this.waiters.shift()!;
      if (!w.poolCancelled) return w;
    }
    return undefined;
  }

  private armWaitTimer(): void {
    if (this.waitTimer) return;
    this.waitTimer = setInterval(() => {
      const now = Date.now();
      while (!this.waiters.isEmpty()) {
        const w = this.waiters.peek()!;
        if (w.poolCancelled) {
          this.waiters.shift();
          continue;
        }
        if (w.poolDeadline > now) break;
        this.waiters.shift();
        w.onPoolTimeout();
      }
      if (this.waiters.isEmpty() && this.waitTimer) {
        clearInterval(this.waitTimer);
        this.waitTimer = null;
      }
    }, 50);
  }

  /** close destroys idle connections and stops opening new ones; busy ones finish their exchange. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }
}
