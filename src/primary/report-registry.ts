/**
 * The primary's side of the report/state channel (the worker's side is src/worker/report.ts):
 * each feature registers the handler for its section of the workers' batched reports, and what
 * to push to a worker that starts serving. One registry, owned by the Supervisor, instead of
 * hooks chained through each other.
 */
import type { ReportSections, StateSections } from '../ipc.js';

/** WorkerRef is a worker that has just started serving: its slot, pid, and a way to push it state. */
export interface WorkerRef {
  slot: number;
  pid: number;
  send(state: StateSections): void;
}

type SectionHandler<K extends keyof ReportSections> = (value: NonNullable<ReportSections[K]>, slot: number, pid: number) => void;

export class ReportRegistry {
  private readonly sections = new Map<keyof ReportSections, (value: never, slot: number, pid: number) => void>();
  private readonly readyHandlers: ((w: WorkerRef) => void)[] = [];

  /** on registers the handler of one report section; a section has one owner. */
  on<K extends keyof ReportSections>(section: K, fn: SectionHandler<K>): void {
    if (this.sections.has(section)) throw new Error(`report section "${section}" already has a handler`);
    this.sections.set(section, fn as (value: never, slot: number, pid: number) => void);
  }

  /** onWorkerReady registers fn for every worker that starts serving (at start, after a restart, a reload, a roll). */
  onWorkerReady(fn: (w: WorkerRef) => void): void {
    this.readyHandlers.push(fn);
  }

  /** dispatch hands each section of one worker's report to its handler. */
  dispatch(slot: number, pid: number, report: ReportSections): void {
    for (const k in report) {
      const v = report[k as keyof ReportSections];
      if (v !== undefined) this.sections.get(k as keyof ReportSections)?.(v as never, slot, pid);
    }
  }

  /** workerReady tells every registered handler that a worker serves. */
  workerReady(w: WorkerRef): void {
    for (const fn of this.readyHandlers) fn(w);
  }
}
