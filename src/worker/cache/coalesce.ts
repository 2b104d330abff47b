/**
 * Request coalescing (nginx's proxy_cache_lock): concurrent misses for one URL wait for the first
 * one's fill, at most lockTimeoutMs, then look again (and go upstream on their own if the fill
 * could not be shared).
 */
import { requestFinished, requestStarted } from '../obs/activity.js';
import { cacheStats, type CacheCtx } from './cache-context.js';

const fills = new Map<string, Pending>();

/** Pending is a fill in progress for one URL, with the requests waiting for it. */
export class Pending {
  private waiters: CacheCtx[] = [];
  private readonly timer: NodeJS.Timeout;
  private done = false;

  /** `retry` looks again for a waiter once the fill is over (`failed`: the fill failed) */
  constructor(
    private readonly key: string,
    lockTimeoutMs: number,
    private readonly retry: (c: CacheCtx, failed: boolean) => void,
  ) {
    fills.set(key, this);
    this.timer = setTimeout(() => this.release(false), lockTimeoutMs);
  }

  /** wait parks a request until the fill is over. */
  wait(c: CacheCtx): void {
    this.waiters.push(c);
    cacheStats.coalesced++;
    requestStarted();
    c.hold();
  }

  /** release ends the fill's coalescing: the waiters look again. */
  release(failed: boolean): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (fills.get(this.key) === this) fills.delete(this.key);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      requestFinished();
      if (!w.aborted) this.retry(w, failed);
    }
  }
}

/** pendingFill returns the fill in progress for a URL, if any. */
export function pendingFill(key: string): Pending | undefined {
  return fills.get(key);
}
