/**
 * What the edge checks cost: requests/s through one worker with the edge checks off, against
 * the same with an allow list of 10,000 CIDRs on the route (looked up per request, uncached),
 * rate limiting (a budget too large to refuse anything) and the connection limit on.
 * Runs alternate (off, on, off, on, ...) so a noisy shared machine affects both alike.
 *
 *   npm run build && node dist/scripts/bench-edge.js [seconds per run=5] [rounds=3]
 */
import autocannon from 'autocannon';
import { createOrigin } from '../test/helpers/origin.js';
import { oneUpstream, startFulcrum, type ConfigInput } from '../test/helpers/fulcrum.js';

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);

function tenThousandCidrs(): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < 9999; i++) out.push(`${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
  out.push('127.0.0.1/32');
  return out;
}

async function run(config: ConfigInput): Promise<number> {
  const f = await startFulcrum(config);
  try {
    const r = await autocannon({ url: `${f.url}/bench`, connections: 32, duration: seconds, pipelining: 1 });
    if (r.non2xx || r.errors) throw new Error(`bench run had ${r.non2xx} non-2xx and ${r.errors} errors`);
    return r.requests.average;
  } finally {
    await f.stop();
  }
}

const origin = await createOrigin('bench', (_req, res) => res.end('ok'));
const base = oneUpstream([origin.url]);
const off: ConfigInput = { ...base, limits: { maxConnectionsPerClient: 0 } };
const on: ConfigInput = {
  ...base,
  rateLimit: { ratePerSecond: 1e8, burst: 1e8 },
  limits: { maxConnectionsPerClient: 256 },
  routes: [{ host: '*', pathPrefix: '/', upstream: 'app', access: { allow: tenThousandCidrs() } }],
};
const offs: number[] = [];
const ons: number[] = [];
for (let i = 0; i < rounds; i++) {
  offs.push(await run(off));
  ons.push(await run(on));
  process.stdout.write(`round ${i + 1}: off ${offs[i]!.toFixed(0)} req/s, on ${ons[i]!.toFixed(0)} req/s, ratio ${(ons[i]! / offs[i]!).toFixed(3)}\n`);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
process.stdout.write(`median: off ${med(offs).toFixed(0)} req/s, on ${med(ons).toFixed(0)} req/s, on/off ${(med(ons) / med(offs)).toFixed(3)}\n`);
await origin.close();
