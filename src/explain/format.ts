/**
 * The human form of an Explanation, for a terminal: a heading, the outcome, then one line per
 * step (its number, name and summary) with the routes and servers it compared indented below it,
 * the chosen one marked ">". Steps the request does not reach are marked so. The upstream head is
 * printed as it goes on the wire, one line per field. No colour: it is read in logs and tickets too.
 */
import type { Explanation, Outcome } from './explanation.js';

const NAME_WIDTH = 12;

export function formatExplanation(e: Explanation): string {
  const r = e.request;
  const host = r.fields.find(([n]) => n === 'host')?.[1] ?? '';
  const out: string[] = [];
  out.push(`${r.method} ${r.secure ? 'https' : 'http'}://${host}${r.target}  from ${r.client}  (${e.source === 'live' ? 'live: ' : ''}${e.config})`);
  out.push(`=> ${outcomeText(e.outcome)}`);
  for (const s of e.steps) {
    const head = `${String(s.step).padStart(2)} ${s.name.padEnd(NAME_WIDTH)}`;
    const tag = !s.reached ? '(not reached) ' : s.decides ? '(decides) ' : '';
    out.push(`${head} ${tag}${s.summary}`);
    const indent = ' '.repeat(head.length + 1);
    for (const l of s.lines) out.push(`${indent}${s.name === 'head' ? '  ' : l.mark ? '> ' : '  '}${l.text}`);
  }
  for (const n of e.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export function outcomeText(o: Outcome): string {
  const route = o.route ? ` (route "${o.route.name}", upstream ${o.route.upstream})` : '';
  switch (o.action) {
    case 'forward':
      return `forwarded to ${o.server}${route}`;
    case 'queue':
      return `waits in the queue of upstream ${o.upstream}: ${o.reason}`;
    case 'cache':
      return `answered from the cache: ${o.reason}${route}`;
    case 'redirect':
      return `${o.status} redirect: ${o.reason}`;
    case 'close':
      return `connection closed without an answer: ${o.reason}`;
    default:
      return `${o.status} from fulcrum: ${o.reason}${route}`;
  }
}
