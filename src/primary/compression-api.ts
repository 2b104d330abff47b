/** The primary side of compression: GET /status gets a "compression" summary merged from the workers' reports. */
import type { ReportSections } from '../ipc.js';
import type { Supervisor } from './supervisor.js';

type CompressionReport = NonNullable<ReportSections['compression']>;

export function registerCompressionStatus(sup: Supervisor): () => CompressionReport | null {
  const reports = new Map<number, { pid: number; report: CompressionReport }>();
  sup.reports.on('compression', (report, slot, pid) => reports.set(slot, { pid, report }));
  return () => {
    const pids = new Set(sup.workerPids());
    const out = { poolTasks: 0, mainThreadTasks: 0, bytesIn: 0, bytesOut: 0 };
    let any = false;
    for (const { pid, report } of reports.values()) {
      if (!pids.has(pid)) continue;
      any = true;
      for (const k of Object.keys(out) as (keyof typeof out)[]) out[k] += report[k];
    }
    return any ? out : null;
  };
}
