/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: it throws
 * on anything promtool's `check metrics` would reject or lint (Debian has no small promtool: the
 * `prometheus` package is the whole server). Checked: line syntax, metric and label names, label
 * value escapes, float values, HELP and TYPE once per family and before its samples, a family's
 * samples in one group, no duplicate series, counters named *_total, histograms with sorted
 * cumulative buckets ending in le="+Inf" equal to _count, and a final newline.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** family name -> [type, help] */
  families: Map<string, [string, string]>;
  /** value of one sample, undefined when absent */
  get(name: string, labels?: Record<string, string>): number | undefined;
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function parseValue(v: string, line: string): number {
  if (v === 'NaN') return Number.NaN;
  if (v === '+Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) throw new Error(`not a float: ${JSON.stringify(v)} in ${line}`);
  return Number(v);
}

function parseLabels(s: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const m = /^([^=]+)="/.exec(s.slice(i));
    if (!m) throw new Error(`bad label syntax in ${line}`);
    const name = m[1]!;
    if (!LABEL.test(name) || name.startsWith('__')) throw new Error(`bad label name ${JSON.stringify(name)} in ${line}`);
    if (name in out) throw new Error(`label ${name} twice in ${line}`);
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error(`unterminated label value in ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i + 1];
        if (e === '\\' || e === '"') v += e;
        else if (e === 'n') v += '\n';
        else throw new Error(`bad escape \\${e} in ${line}`);
        i += 2;
        continue;
      }
      if (c === '\n') throw new Error(`raw newline in a label value in ${line}`);
      v += c;
      i++;
    }
    out[name] = v;
    i++;
    if (s[i] === ',') i++;
    else if (i !== s.length) throw new Error(`expected "," between labels in ${line}`);
  }
  return out;
}

/** familyOf maps a sample name to its family given the declared types (histogram _bucket -> name). */
function familyOf(name: string, families: Map<string, [string, string]>): string {
  for (const [fam, [type]] of families) {
    for (const suf of SUFFIXES[type] ?? ['']) if (name === fam + suf) return fam;
  }
  return name;
}

export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, [string, string]>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const done = new Set<string>();
  let current = '';
  const enter = (fam: string, line: string) => {
    if (fam === current) return;
    if (done.has(fam)) throw new Error(`family ${fam} is split into several groups (at ${line})`);
    if (current) done.add(current);
    current = fam;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') throw new Error('empty line');
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC.test(name)) throw new Error(`bad metric name in ${line}`);
      enter(name, line);
      const f = families.get(name) ?? ['untyped', ''];
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`unknown type in ${line}`);
        if (f[0] !== 'untyped') throw new Error(`TYPE of ${name} twice`);
        if (samples.some((s) => (SUFFIXES[rest] ?? ['']).some((suf) => s.name === name + suf))) throw new Error(`TYPE of ${name} after its samples`);
        f[0] = rest;
      } else {
        if (f[1] !== '') throw new Error(`HELP of ${name} twice`);
        if (rest === '') throw new Error(`empty HELP for ${name}`);
        f[1] = rest;
      }
      families.set(name, f);
      continue;
    }
    const m = /^([^{\s]+)(?:\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[1]!;
    if (!METRIC.test(name)) throw new Error(`bad metric name in ${line}`);
    const labels = parseLabels(m[2] ?? '', line);
    const value = parseValue(m[3]!, line);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
    seen.add(key);
    enter(familyOf(name, families), line);
    samples.push({ name, labels, value });
  }
  for (const [name, [type, help]] of families) {
    if (help === '') throw new Error(`no HELP for ${name}`);
    if (type === 'untyped') throw new Error(`no TYPE for ${name}`);
    if (type === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} is not named *_total`);
    if (type !== 'counter' && name.endsWith('_total')) throw new Error(`${type} ${name} is named like a counter`);
    if (type === 'histogram') checkHistogram(name, samples);
  }
  return {
    samples,
    families,
    get: (name, labels = {}) => samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value,
  };
}

function checkHistogram(name: string, samples: Sample[]): void {
  const series = new Map<string, { le: number; v: number }[]>();
  const counts = new Map<string, number>();
  for (const s of samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    if (s.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}_bucket without le`);
      const list = series.get(key) ?? [];
      list.push({ le: parseValue(le, `le of ${name}`), v: s.value });
      series.set(key, list);
    } else if (s.name === `${name}_count`) counts.set(key, s.value);
  }
  for (const [key, list] of series) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i]!.le > list[i - 1]!.le)) throw new Error(`${name} ${key}: buckets not sorted by le`);
      if (list[i]!.v < list[i - 1]!.v) throw new Error(`${name} ${key}: buckets not cumulative`);
    }
    const last = list.at(-1)!;
    if (last.le !== Number.POSITIVE_INFINITY) throw new Error(`${name} ${key}: no le="+Inf" bucket`);
    if (counts.get(key) !== last.v) throw new Error(`${name} ${key}: _count ${counts.get(key)} differs from the +Inf bucket ${last.v}`);
  }
}
