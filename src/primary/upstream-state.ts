/**
 * UpstreamRegistry is the primary's truth about every upstream server: active health (from the
 * HealthChecker), passive ejection (decided here from the failures the workers report), drain,
 * slow start, and the in-flight counts of every worker merged. Changes are pushed to the workers
 * (StateSections.servers, .inFlight) and logged; a new or restarted worker gets the full state.
 * Entries are keyed by upstream and server id, so state survives reloads for servers that stay.
 * The adaptive concurrency limits (concurrency-control.ts) ride along: reports, full state, /status.
 */
import { REPORT_INTERVAL_MS, SERVER_DOWN, SERVER_DRAINED, SERVER_EJECTED, type ReportSections, type StateSections } from '../ipc.js';
import type { LoadedConfig, ServerSpec, UpstreamSpec } from '../config/load.js';
import type { Supervisor } from './supervisor.js';
import { log } from '../log.js';
import { ConcurrencyControl } from './concurrency-control.js';

export type Health = 'up' | 'down' | 'ejected';

export interface HealthTransition {
  time: string;
  upstream: string;
  server: string;
  from: Health;
  to: Health;
  reason: string;
}

const MAX_TRANSITIONS = 50;

export interface ServerEntry {
  upstream: UpstreamSpec;
  spec: ServerSpec;
  /** active health: up until `fall` failed probes (nginx and HAProxy start servers up too) */
  activeUp: boolean;
  /** epoch ms until which the server is ejected by passive checks (0: not ejected) */
  ejectedUntil: number;
  /** ejections in a row (each doubles ejectMs), forgotten after maxEjectMs without one */
  ejections: number;
  lastEjectionEnd: number;
  /** times of recent failures reported by workers (passive health) */
  failTimes: number[];
  drained: boolean;
  slowStartUntil: number;
  /** in flight per worker slot, as last reported: [pid, count] */
  inFlightBySlot: Map<number, [number, number]>;
  /** last active probe result, for the admin API and the dashboard: when it started (epoch ms), how long it took */
  lastCheck: { at: number; ok: boolean; detail: string; durationMs: number } | null;
}

export class UpstreamRegistry {
  private entries = new Map<string, Map<string, ServerEntry>>();
  private timer: NodeJS.Timeout;
  private inFlightDirty = false;
  private readonly ejectTimers = new Set<NodeJS.Timeout>();
  /** the latest health transitions, newest last (GET /status, the dashboard) */
  readonly transitions: HealthTransition[] = [];
  /** called after the servers of an upstream changed (config, admin): health checks follow */
  onServersChanged: (() => void) | null = null;
  /** the adaptive concurrency limits of the servers whose upstream has them */
  readonly concurrency: ConcurrencyControl;

  constructor(
    private readonly sup: Supervisor,
    cfg: LoadedConfig,
  ) {
    this.concurrency = new ConcurrencyControl({
      liveSlots: () => this.liveSlots(),
      inFlightBySlot: (upstream, id) => this.inFlightBySlot(upstream, id),
      broadcast: (state) => this.sup.broadcastState(state),
    });
    this.sync(cfg);
    this.timer = setInterval(() => this.pushInFlight(), REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  /** sync adopts the upstreams of a (re)loaded config, keeping the state of servers that stay. */
  sync(cfg: LoadedConfig): void {
    const next = new Map<string, Map<string, ServerEntry>>();
    for (const up of Object.values(cfg.upstreams)) {
      const old = this.entries.get(up.name);
      const m = new Map<string, ServerEntry>();
      for (const spec of up.servers) {
        // the same object stays (timers and probes hold it); only its config is replaced
        const prev = old?.get(spec.id);
        if (prev) {
          prev.upstream = up;
          prev.spec = spec;
        }
        m.set(spec.id, prev ?? newEntry(up, spec));
      }
      next.set(up.name, m);
    }
    this.entries = next;
    this.concurrency.sync(cfg);
    this.onServersChanged?.();
  }

  upstream(name: string): Map<string, ServerEntry> | undefined {
    return this.entries.get(name);
  }

  all(): IterableIterator<[string, Map<string, ServerEntry>]> {
    return this.entries.entries();
  }

  health(e: ServerEntry): Health {
    if (!e.activeUp) return 'down';
    return e.ejectedUntil > Date.now() ? 'ejected' : 'up';
  }

  /** inFlight returns the cluster-wide count of a server (live workers only). */
  inFlight(e: ServerEntry): number {
    const live = this.liveSlots();
    let n = 0;
    for (const [slot, [pid, c]] of e.inFlightBySlot) if (live.get(slot) === pid) n += c;
    return n;
  }

  /** inFlightBySlot returns a server's requests in flight per live worker slot. */
  private inFlightBySlot(upstream: string, id: string): Map<number, number> {
    const out = new Map<number, number>();
    const e = this.entries.get(upstream)?.get(id);
    if (!e) return out;
    const live = this.liveSlots();
    for (const [slot, [pid, c]] of e.inFlightBySlot) if (live.get(slot) === pid) out.set(slot, c);
    return out;
  }

  /** describe returns the live fields of a server for the admin API and /status. */
  describe(
    upstream: string,
    id: string,
  ):
    | { health: Health; drained: boolean; inFlight: number; lastCheck?: ServerEntry['lastCheck']; concurrency?: ReturnType<ConcurrencyControl['describe']> }
    | undefined {
    const e = this.entries.get(upstream)?.get(id);
    if (!e) return undefined;
    const concurrency = this.concurrency.describe(upstream, id);
    return {
      health: this.health(e),
      drained: e.drained,
      inFlight: this.inFlight(e),
      ...(e.lastCheck ? { lastCheck: e.lastCheck } : {}),
      ...(concurrency ? { concurrency } : {}),
    };
  }

  // ---- changes ----------------------------------------------------------------------------

  /** setActive records an active check's verdict (called by the HealthChecker on a state change). */
  setActive(e: ServerEntry, up: boolean, detail: string): void {
    if (e.activeUp === up) return;
    const before = this.health(e);
    e.activeUp = up;
    this.noteTransition(e, before, `active check: ${detail}`);
    if (up) this.startSlowStart(e);
    const fields = { upstream: e.upstream.name, server: e.spec.id, url: e.spec.url, detail };
    if (up) log.info('server up (active health check)', fields);
    else log.warn('server down (active health check)', fields);
    this.pushFlags(e);
  }

  private noteTransition(e: ServerEntry, from: Health, reason: string): void {
    const to = this.health(e);
    if (to === from) return;
    this.transitions.push({ time: new Date().toISOString(), upstream: e.upstream.name, server: e.spec.id, from, to, reason });
    if (this.transitions.length > MAX_TRANSITIONS) this.transitions.shift();
  }

  setDrained(e: ServerEntry, drained: boolean): void {
    if (e.drained === drained) return;
    e.drained = drained;
    if (!drained) this.startSlowStart(e);
    log.info(drained ? 'server drained' : 'server undrained', { upstream: e.upstream.name, server: e.spec.id });
    this.pushFlags(e);
  }

  private startSlowStart(e: ServerEntry): void {
    if (e.upstream.slowStartMs > 0) e.slowStartUntil = Date.now() + e.upstream.slowStartMs;
  }

  /** onInFlight merges one worker's requests in flight per server (its report's `inFlight` section). */
  onInFlight(slot: number, pid: number, inFlight: NonNullable<ReportSections['inFlight']>): void {
    for (const [name, servers] of Object.entries(inFlight)) {
      const m = this.entries.get(name);
      if (!m) continue;
      for (const [id, n] of Object.entries(servers)) {
        const e = m.get(id);
        if (!e) continue;
        const prev = e.inFlightBySlot.get(slot);
        if (!prev || prev[0] !== pid || prev[1] !== n) {
          e.inFlightBySlot.set(slot, [pid, n]);
          this.inFlightDirty = true;
        }
      }
    }
  }

  /** onFails counts the failures a worker saw per server (its report's `fails` section: passive health). */
  onFails(fails: NonNullable<ReportSections['fails']>): void {
    const now = Date.now();
    for (const [name, servers] of Object.entries(fails)) {
      const m = this.entries.get(name);
      if (!m) continue;
      for (const [id, n] of Object.entries(servers)) {
        const e = m.get(id);
        if (e) this.countFails(e, n, now);
      }
    }
  }

  /** countFails applies passive health: maxFails within failWindowMs ejects for ejectMs, doubling on repeat. */
  private countFails(e: ServerEntry, n: number, now: number): void {
    const ph = e.upstream.passiveHealth;
    if (ph.maxFails === 0 || e.ejectedUntil > now) return;
    for (let i = 0; i < n; i++) e.failTimes.push(now);
    const from = now - ph.failWindowMs;
    while (e.failTimes.length && e.failTimes[0]! < from) e.failTimes.shift();
    if (e.failTimes.length < ph.maxFails) return;
    e.failTimes.length = 0;
    if (e.lastEjectionEnd && now - e.lastEjectionEnd > ph.maxEjectMs) e.ejections = 0;
    e.ejections++;
    const ms = Math.min(ph.ejectMs * 2 ** (e.ejections - 1), ph.maxEjectMs);
    const before = this.health(e);
    e.ejectedUntil = now + ms;
    this.noteTransition(e, before, `passive check: ${ph.maxFails} failures within ${ph.failWindowMs} ms`);
    log.warn('server ejected (passive health check)', {
      upstream: e.upstream.name,
      server: e.spec.id,
      url: e.spec.url,
      failures: ph.maxFails,
      windowMs: ph.failWindowMs,
      ejectMs: ms,
    });
    this.pushFlags(e);
    const t = setTimeout(() => {
      this.ejectTimers.delete(t);
      if (e.ejectedUntil === 0 || e.ejectedUntil > Date.now() + 5) return;
      // health() already reads "up" here (the ejection's end time has passed): it was ejected until now
      const before: Health = e.activeUp ? 'ejected' : 'down';
      e.ejectedUntil = 0;
      this.noteTransition(e, before, 'ejection ended');
      e.lastEjectionEnd = Date.now();
      this.startSlowStart(e);
      log.info('server back from ejection', { upstream: e.upstream.name, server: e.spec.id });
      this.pushFlags(e);
    }, ms);
    t.unref();
    this.ejectTimers.add(t);
  }

  // ---- pushing state ------------------------------------------------------------------------

  private flagsOf(e: ServerEntry): [number, number] {
    const f = (e.activeUp ? 0 : SERVER_DOWN) | (e.ejectedUntil > Date.now() ? SERVER_EJECTED : 0) | (e.drained ? SERVER_DRAINED : 0);
    return [f, e.slowStartUntil];
  }

  private pushFlags(e: ServerEntry): void {
    this.sup.broadcastState({ servers: { [e.upstream.name]: { [e.spec.id]: this.flagsOf(e) } } });
  }

  /** fullState is what a new or restarted worker needs. */
  fullState(): StateSections {
    const servers: NonNullable<StateSections['servers']> = {};
    for (const [name, m] of this.entries) {
      const per: Record<string, [number, number]> = (servers[name] = {});
      for (const [id, e] of m) per[id] = this.flagsOf(e);
    }
    const concurrency = this.concurrency.state();
    return { servers, inFlight: this.merged(), ...(concurrency ? { concurrency } : {}) };
  }

  private liveSlots(): Map<number, number | undefined> {
    return new Map(this.sup.workers().map((w) => [w.index, w.pid]));
  }

  private merged(): NonNullable<StateSections['inFlight']> {
    const live = this.liveSlots();
    const n = live.size;
    const out: NonNullable<StateSections['inFlight']> = {};
    for (const [name, m] of this.entries) {
      const per: Record<string, number[]> = (out[name] = {});
      for (const [id, e] of m) {
        const arr = new Array<number>(n).fill(0);
        for (const [slot, [pid, c]] of e.inFlightBySlot) if (slot < n && live.get(slot) === pid) arr[slot] = c;
        per[id] = arr;
      }
    }
    return out;
  }

  private pushInFlight(): void {
    if (!this.inFlightDirty) return;
    this.inFlightDirty = false;
    this.sup.broadcastState({ inFlight: this.merged() });
  }

  close(): void {
    clearInterval(this.timer);
    this.concurrency.close();
    for (const t of this.ejectTimers) clearTimeout(t);
  }
}

function newEntry(upstream: UpstreamSpec, spec: ServerSpec): ServerEntry {
  return {
    upstream,
    spec,
    activeUp: true,
    ejectedUntil: 0,
    ejections: 0,
    lastEjectionEnd: 0,
    failTimes: [],
    drained: false,
    slowStartUntil: 0,
    inFlightBySlot: new Map(),
    lastCheck: null,
  };
}
