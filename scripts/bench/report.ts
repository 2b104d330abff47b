/**
 * Benchmark output: a plain-text table for the terminal, and a self-contained HTML report
 * (inline SVG, no scripts, no network) with each workload's latency distribution and
 * percentile curve per target.
 */

export interface Series {
  label: string;
  /** [percentile, microseconds] */
  curve: [number, number][];
  /** [upper bound in microseconds, count] */
  bins: [number, number][];
}

export interface ChartGroup {
  title: string;
  series: Series[];
}

/** table renders rows as aligned columns; numeric-looking cells are right-aligned. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const num = (s: string) => /^[-+]?[\d,.]+(\s?\S{0,4})?$/.test(s) || s === '-';
  const line = (r: string[]) =>
    r
      .map((c, i) => (num(c) && i > 0 ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

/** markdownTable renders the same rows as a Markdown table. */
export function markdownTable(head: string[], rows: string[][]): string {
  return (
    [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n'
  );
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMs = (us: number): string => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
export const fmtMiB = (b: number): string => (b / 2 ** 20).toFixed(0);

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Axis {
  min: number;
  max: number;
  log: boolean;
  ticks: [number, string][];
}

function svgChart(title: string, xLabel: string, yLabel: string, x: Axis, y: Axis, lines: { label: string; pts: [number, number][] }[]): string {
  const W = 520;
  const H = 260;
  const L = 60;
  const R = 28;
  const T = 24;
  const B = 40;
  const tx = (v: number) => (x.log ? Math.log10(v) : v);
  const ty = (v: number) => (y.log ? Math.log10(v) : v);
  const sx = (v: number) => L + ((tx(v) - tx(x.min)) / (tx(x.max) - tx(x.min) || 1)) * (W - L - R);
  const sy = (v: number) => H - B - ((ty(v) - ty(y.min)) / (ty(y.max) - ty(y.min) || 1)) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<text x="${W / 2}" y="14" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  for (const [v, s] of x.ticks) {
    const px = sx(v).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${px}" y="${H - B + 14}" text-anchor="middle">${esc(s)}</text>`);
  }
  for (const [v, s] of y.ticks) {
    const py = sy(v).toFixed(1);
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${py}" y2="${py}" stroke="#eee"/><text x="${L - 4}" y="${py}" text-anchor="end" dominant-baseline="middle">${esc(s)}</text>`,
    );
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(12 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  lines.forEach((ln, i) => {
    const c = COLORS[i % COLORS.length];
    const d = ln.pts
      .filter(([a, b]) => (!x.log || a > 0) && (!y.log || b > 0))
      .map(([a, b], j) => `${j ? 'L' : 'M'}${sx(a).toFixed(1)},${sy(b).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
    parts.push(
      `<rect x="${L + 8}" y="${T + 6 + i * 14}" width="10" height="3" fill="${c}"/><text x="${L + 22}" y="${T + 10 + i * 14}">${esc(ln.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function niceTicks(max: number, count = 5): [number, string][] {
  if (max <= 0) return [[0, '0']];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: [number, string][] = [];
  for (let v = 0; ; v += step) {
    out.push([v, Number(v.toPrecision(6)).toString()]);
    if (v >= max) break;
  }
  return out;
}

function logTicks(min: number, max: number, fmt: (v: number) => string): [number, string][] {
  const out: [number, string][] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    const v = 10 ** e;
    if (v >= min && v <= max) out.push([v, fmt(v)]);
  }
  return out;
}

const usLabel = (us: number) => (us >= 1000 ? `${us / 1000} ms` : `${us} µs`);

/** percentileChart plots latency against percentile (x: 1/(1-p), log). */
export function percentileChart(g: ChartGroup): string {
  const lines = g.series.map((s) => ({ label: s.label, pts: s.curve.map(([p, us]) => [1 / (1 - Math.min(p, 99.999) / 100), us / 1000] as [number, number]) }));
  const ymax = Math.max(0.001, ...lines.flatMap((l) => l.pts.map((p) => p[1])));
  const xt: [number, string][] = [
    [1, '0%'],
    [10, '90%'],
    [100, '99%'],
    [1000, '99.9%'],
    [10000, '99.99%'],
    [100000, '99.999%'],
  ];
  const yt = niceTicks(ymax);
  return svgChart(
    `${g.title}: latency by percentile`,
    'percentile',
    'latency (ms)',
    { min: 1, max: 100000, log: true, ticks: xt },
    { min: 0, max: yt[yt.length - 1]![0], log: false, ticks: yt },
    lines,
  );
}

/** distributionChart plots how many responses took how long (x: latency, log). */
export function distributionChart(g: ChartGroup): string {
  const lines = g.series.map((s) => {
    const total = s.bins.reduce((a, b) => a + b[1], 0) || 1;
    return { label: s.label, pts: s.bins.map(([us, c]) => [us, (c / total) * 100] as [number, number]) };
  });
  const xs = lines.flatMap((l) => l.pts.map((p) => p[0]));
  const xmin = Math.max(1, Math.min(...xs, 1e9));
  const xmax = Math.max(xmin * 10, ...xs);
  const ymax = Math.max(1, ...lines.flatMap((l) => l.pts.map((p) => p[1])));
  const yt = niceTicks(ymax);
  return svgChart(
    `${g.title}: latency histogram`,
    'latency (log scale)',
    '% of responses',
    { min: xmin, max: xmax, log: true, ticks: logTicks(xmin, xmax, usLabel) },
    { min: 0, max: yt[yt.length - 1]![0], log: false, ticks: yt },
    lines,
  );
}

/** htmlReport builds the whole page: a heading, notes, the table, and two charts per group. */
export function htmlReport(title: string, notes: string[], head: string[], rows: string[][], groups: ChartGroup[]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  const charts = groups
    .map((g) => `<section><h2>${esc(g.title)}</h2><div class="charts">${distributionChart(g)}${percentileChart(g)}</div></section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}h2{font-size:1.1em;margin-top:2em}</style>
</head><body>
<h1>${esc(title)}</h1>
${notes.map((n) => `<p>${esc(n)}</p>`).join('\n')}
<table><thead><tr>${th}</tr></thead><tbody>
${trs}
</tbody></table>
${charts}
</body></html>
`;
}
