/**
 * The primary's side of the report/state channel (the worker's side is src/worker/report.ts):
 * each feature registers the handler for its section of the workers' batched reports, and what
 * to push to a worker that starts (it is sent right after the worker's config, before the worker
 * serves). One registry, owned by the Supervisor, instead of hooks chained through each other.
 */
import type { ReportSections, StateSections } from '../ipc.js';

/** WorkerRef is a worker that starts: its slot, pid, and a way to push it state. */
export interface WorkerRef {
  slot: number;
  pid: number;
  send(state: StateSections): void;
}

type SectionHandler<K extends keyof ReportSections> = (value: NonNullable<ReportSections[K]>, slot: number, pid: number) => void;

export class ReportRegistry {
  private readonly sections = new Map<keyof ReportSections, (value: never, slot: number, pid: number) => void>();
  private readonly startHandlers: ((w: WorkerRef) => void)[] = [];

  /** on registers the handler of one report section; a section has one owner. */
  on<K extends keyof ReportSections>(section: K, fn: SectionHandler<K>): void {
    if (this.sections.has(section)) throw new Error(`report section "${section}" already has a handler`);
    this.sections.set(section, fn as (value: never, slot: number, pid: number) => void);
  }

  /** onWorkerStart registers fn for every worker that starts (at start, after a restart, in a new generation). */
  onWorkerStart(fn: (w: WorkerRef) => void): void {
    this.startHandlers.push(fn);
  }

  /** dispatch hands each section of one worker's report to its handler. */
  dispatch(slot: number, pid: number, report: ReportSections): void {
    for (const k in report) {
      const v = report[k as keyof ReportSections];
      if (v !== undefined) this.sections.get(k as keyof ReportSections)?.(v as never, slot, pid);
    }
  }

  /** workerStarting tells every registered handler that a worker starts (its config was just sent). */
  workerStarting(w: WorkerRef): void {
    for (const fn of this.startHandlers) fn(w);
  }
}
