/**
 * ClientTable sums the workers' per-client requests in flight (limits.maxConnectionsPerClient)
 * and pushes the changed totals to every worker each REPORT_INTERVAL_MS.
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

  private push(): void {
    this.timer = null;
    const state: Record<string, number> = {};
    for (const ip of this.dirty) {
      const m = this.bySlot.get(ip);
      let total = 0;
      if (m) for (const n of m.values()) total += n;
      state[ip] = total;
      if (total === 0) this.bySlot.delete(ip);
    }
    this.dirty.clear();
    this.sup.broadcastState({ connections: state });
  }
}
