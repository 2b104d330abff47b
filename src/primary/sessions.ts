/**
 * SessionTable is the sticky-session table, owned by the primary: per upstream, session key
 * (cookie session id or client address) -> server id, with sliding TTL expiry (ttlSeconds since
 * last use) and an LRU bound (maxEntries; the least recently used goes first). Workers report
 * new and moved sessions and the keys they used in their batched reports; changes are pushed to
 * every worker every REPORT_INTERVAL_MS, and a new or restarted worker gets the whole table, so a
 * session survives the crash of the worker that created it.
 */
import { REPORT_INTERVAL_MS, type ReportSections, type StateSections } from '../ipc.js';
import type { LoadedConfig, UpstreamSpec } from '../config/load.js';
import type { Supervisor } from './supervisor.js';

interface Session {
  server: string;
  seen: number;
  /** when the worker that chose `server` decided it (ms): an older decision reported later loses */
  decided: number;
}

const SWEEP_INTERVAL_MS = 1000;

export class SessionTable {
  /** per upstream; Map order is LRU order (a use re-inserts the key at the end) */
  private tables = new Map<string, Map<string, Session>>();
  private specs = new Map<string, UpstreamSpec>();
  private pending: [string, string, string][] = [];
  private readonly flushTimer: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  /** sharedState hooks (src/primary/shared-sessions.ts): a worker created (isNew) or moved a session; keys used */
  onLocalChange: ((name: string, key: string, server: string, isNew: boolean) => void) | null = null;
  onTouch: ((name: string, keys: string[]) => void) | null = null;

  constructor(
    private readonly sup: Supervisor,
    cfg: LoadedConfig,
  ) {
    this.sync(cfg);
    this.flushTimer = setInterval(() => this.flush(), REPORT_INTERVAL_MS);
    this.flushTimer.unref();
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** sync keeps the tables of upstreams that still have sticky sessions. */
  sync(cfg: LoadedConfig): void {
    this.specs = new Map(
      Object.values(cfg.upstreams)
        .filter((u) => u.sticky.mode !== 'none')
        .map((u) => [u.name, u]),
    );
    for (const name of [...this.tables.keys()]) if (!this.specs.has(name)) this.tables.delete(name);
    for (const name of this.specs.keys()) if (!this.tables.has(name)) this.tables.set(name, new Map());
  }

  /** size returns the number of sessions of an upstream (for /status). */
  size(upstream: string): number {
    return this.tables.get(upstream)?.size ?? 0;
  }

  /** lookup reads an upstream's table (session key -> server id) without touching it (GET /explain). */
  lookup(upstream: string): { get(key: string): string | undefined } {
    const t = this.tables.get(upstream);
    return { get: (key) => t?.get(key)?.server };
  }

  /**
   * onSticky applies the sessions a worker created or moved (its report's `sticky` section).
   * Reports of different workers can cross: a session created on one worker and moved on another
   * a moment later (its server went down) may arrive move first. The later decision wins, so a
   * late creation report cannot send the session back to the server it was moved from.
   */
  onSticky(entries: NonNullable<ReportSections['sticky']>): void {
    const now = Date.now();
    for (const [name, key, server, decided] of entries) {
      const t = this.tables.get(name);
      if (!t) continue;
      const prev = t.get(key);
      if (prev && prev.decided > decided) {
        // an older decision: it counts as a use of the session, not as a change
        used(t, key, prev, now);
        continue;
      }
      t.delete(key);
      t.set(key, { server, seen: now, decided });
      if (!prev || prev.server !== server) {
        this.pending.push([name, key, server]);
        this.onLocalChange?.(name, key, server, !prev);
      }
      this.evict(name, t);
    }
  }

  /** onStickyTouch keeps alive the sessions a worker used (its report's `stickyTouch` section). */
  onStickyTouch(touched: NonNullable<ReportSections['stickyTouch']>): void {
    const now = Date.now();
    for (const [name, keys] of Object.entries(touched)) {
      const t = this.tables.get(name);
      if (!t) continue;
      this.onTouch?.(name, keys);
      for (const key of keys) {
        const s = t.get(key);
        if (s) used(t, key, s, now);
      }
    }
  }

  /** apply sets a session learnt from another host (shared state), pushed to the workers with the next flush. */
  apply(name: string, key: string, server: string): void {
    const t = this.tables.get(name);
    if (!t) return;
    const prev = t.get(key);
    if (prev?.server === server) return;
    const now = Date.now();
    t.delete(key);
    t.set(key, { server, seen: now, decided: now });
    this.pending.push([name, key, server]);
    this.evict(name, t);
  }

  /** ttlMs of an upstream's sessions (0: the upstream has none) */
  ttlMs(name: string): number {
    return (this.specs.get(name)?.sticky.ttlSeconds ?? 0) * 1000;
  }

  /** maxEntries of an upstream's table (0: the upstream has none) */
  maxEntries(name: string): number {
    return this.specs.get(name)?.sticky.maxEntries ?? 0;
  }

  private evict(name: string, t: Map<string, Session>): void {
    const max = this.specs.get(name)!.sticky.maxEntries;
    while (t.size > max) {
      const oldest = t.keys().next().value as string;
      t.delete(oldest);
      this.pending.push([name, oldest, '']);
    }
  }

  private sweep(now: number): void {
    for (const [name, t] of this.tables) {
      const ttl = this.specs.get(name)!.sticky.ttlSeconds * 1000;
      for (const [key, s] of t) {
        if (s.seen + ttl > now) break; // LRU order: the rest were used later
        t.delete(key);
        this.pending.push([name, key, '']);
      }
    }
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const entries = this.pending;
    this.pending = [];
    this.sup.broadcastState({ sticky: { full: false, entries } });
  }

  /** fullState is the whole table, for a new or restarted worker. */
  fullState(): StateSections {
    const entries: [string, string, string][] = [];
    for (const [name, t] of this.tables) for (const [key, s] of t) entries.push([name, key, s.server]);
    return { sticky: { full: true, entries } };
  }

  close(): void {
    clearInterval(this.flushTimer);
    clearInterval(this.sweepTimer);
  }
}

/** used marks a session used at `now`: the table is in LRU order, so it moves to the end. */
function used(t: Map<string, Session>, key: string, s: Session, now: number): void {
  s.seen = now;
  t.delete(key);
  t.set(key, s);
}
