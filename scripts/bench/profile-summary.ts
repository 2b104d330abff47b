/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, and
 * the same grouped by file, so a profile of a benchmark run can be read in a terminal.
 *
 *   node dist/scripts/bench/profile-summary.js prof/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

export function summarise(p: Profile, top: number): string {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0;
    if (!t) continue;
    const file = n.callFrame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/') || '(native)';
    const fn = `${n.callFrame.functionName || '(anonymous)'}  ${file}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + t);
    byFile.set(file, (byFile.get(file) ?? 0) + t);
  }
  const fmt = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return `self time by function (${(total / 1e6).toFixed(1)} s sampled)\n${fmt(byFn)}\n\nself time by file\n${fmt(byFile)}\n`;
}

const args = process.argv.slice(2);
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) || 30 : 30;
for (const f of args) process.stdout.write(`== ${f}\n${summarise(JSON.parse(readFileSync(f, 'utf8')) as Profile, top)}\n`);
