/**
 * ClientTable sums the workers' per-client requests in flight (limits.maxConnectionsPerClient)
 * and pushes to each worker, each REPORT_INTERVAL_MS, its own and the total count of the changed ones.
 */
import { REPORT_INTERVAL_MS } from '../ipc.js';
import type { Supervisor } from './supervisor.js';

export class ClientTable {
  /** ip -> slot -> count */
  private readonly bySlot = new Map<string, Map<number, number>>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly sup: Supervisor) {}

  /** slot -> pid whose counts the slot holds: a restarted worker's counts start from zero */
  private readonly pids = new Map<number, number>();

  /** onReport merges one worker's requests in flight per client (its report's `connections` section). */
  onReport(slot: number, pid: number, c: Record<string, number>): void {
    if (this.pids.get(slot) !== pid) {
      this.pids.set(slot, pid);
      for (const [ip, m] of this.bySlot) if (m.delete(slot)) this.dirty.add(ip);
    }
    for (const ip in c) {
      let m = this.bySlot.get(ip);
      if (!m) this.bySlot.set(ip, (m = new Map()));
      if (c[ip]! > 0) m.set(slot, c[ip]!);
      else m.delete(slot);
      this.dirty.add(ip);
    }
    this.timer ??= setTimeout(() => this.push(), REPORT_INTERVAL_MS);
  }

  /**
   * push sends each worker, for the clients changed since the last push, its own count as this
   * push counts it and the cluster total: the worker's ceiling is its own count plus its 1/N share
   * of the headroom, so the ceilings of one push sum to the limit (+ N - 1 for rounding), and a
   * worker whose own count fell since the report this push used is not refused for it.
   */
  private push(): void {
    this.timer = null;
    const totals = new Map<string, number>();
    for (const ip of this.dirty) {
      const m = this.bySlot.get(ip);
      let total = 0;
      if (m) for (const n of m.values()) total += n;
      totals.set(ip, total);
      if (total === 0) this.bySlot.delete(ip);
    }
    this.dirty.clear();
    for (const slot of this.pids.keys()) {
      const state: Record<string, [number, number]> = {};
      for (const [ip, total] of totals) state[ip] = [this.bySlot.get(ip)?.get(slot) ?? 0, total];
      this.sup.sendState(slot, { connections: state });
    }
  }
}
