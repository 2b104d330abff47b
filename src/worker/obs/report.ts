/**
 * The worker side of the report/state channel (see ReportMsg and StateMsg in ipc.ts).
 * Features register a reporter for their section (called once per interval, off the request
 * path) and a handler for the state the primary pushes.
 */
import { REPORT_INTERVAL_MS, sendMsg, type ReportSections, type StateSections } from '../../ipc.js';

type Reporter = () => unknown;
const reporters = new Map<keyof ReportSections, Reporter>();
const stateHandlers = new Map<keyof StateSections, (v: never) => void>();
let timer: NodeJS.Timeout | null = null;

/** addReporter registers fn to fill `section` of every report; returning undefined skips it. */
export function addReporter<K extends keyof ReportSections>(section: K, fn: () => ReportSections[K] | undefined): void {
  reporters.set(section, fn);
}

/** onState registers the handler for one field of the state the primary pushes. */
export function onState<K extends keyof StateSections>(field: K, fn: (v: NonNullable<StateSections[K]>) => void): void {
  stateHandlers.set(field, fn as (v: never) => void);
}

/** applyState dispatches a pushed state to the registered handlers. */
export function applyState(state: StateSections): void {
  for (const [k, v] of Object.entries(state) as [keyof StateSections, unknown][]) {
    if (v !== undefined) stateHandlers.get(k)?.(v as never);
  }
}

/** flushReport sends one report now (also used right before a worker exits). */
export function flushReport(): void {
  if (reporters.size === 0) return;
  const sections: Record<string, unknown> = {};
  let any = false;
  for (const [k, fn] of reporters) {
    const v = fn();
    if (v !== undefined) {
      sections[k] = v;
      any = true;
    }
  }
  if (any) sendMsg(process, { type: 'report', sections: sections as ReportSections });
}

export function startReporting(): void {
  if (timer) return;
  timer = setInterval(flushReport, REPORT_INTERVAL_MS);
  timer.unref();
}
