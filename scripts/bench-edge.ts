/**
 * What the edge checks cost: requests/s through one worker with the edge checks off, against
 * the same with an allow list of 10,000 CIDRs on the route (looked up per request, uncached),
 * rate limiting (a budget too large to refuse anything) and the connection limit on.
 * Runs alternate (off, on, off, on, ...) so a noisy shared machine affects both alike. Besides
 * requests/s it reports the worker's CPU time per request (from /proc), which a busy machine
 * disturbs much less than throughput.
 *
 *   npm run build && node dist/scripts/bench-edge.js [seconds per run=5] [rounds=3]
 */
import { readFileSync } from 'node:fs';
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

/** cpuMs returns a process's user + system CPU time in ms (Linux /proc). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ = 100
}

async function run(config: ConfigInput): Promise<[number, number]> {
  const f = await startFulcrum(config);
  try {
    const pid = f.workerPids()[0]!;
    const c0 = cpuMs(pid);
    const r = await autocannon({ url: `${f.url}/bench`, connections: 32, duration: seconds, pipelining: 1 });
    const cpu = cpuMs(pid) - c0;
    if (r.non2xx || r.errors) throw new Error(`bench run had ${r.non2xx} non-2xx and ${r.errors} errors`);
    return [r.requests.average, (cpu * 1000) / r.requests.total];
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
const offCpu: number[] = [];
const onCpu: number[] = [];
for (let i = 0; i < rounds; i++) {
  const [a, ac] = await run(off);
  const [b, bc] = await run(on);
  offs.push(a);
  ons.push(b);
  offCpu.push(ac);
  onCpu.push(bc);
  process.stdout.write(
    `round ${i + 1}: off ${a.toFixed(0)} req/s ${ac.toFixed(1)} us CPU/req, on ${b.toFixed(0)} req/s ${bc.toFixed(1)} us CPU/req, req/s on/off ${(b / a).toFixed(3)}\n`,
  );
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
process.stdout.write(
  `median: off ${med(offs).toFixed(0)} req/s ${med(offCpu).toFixed(1)} us CPU/req, on ${med(ons).toFixed(0)} req/s ${med(onCpu).toFixed(1)} us CPU/req; ` +
    `req/s on/off ${(med(ons) / med(offs)).toFixed(3)}, CPU/req on/off ${(med(onCpu) / med(offCpu)).toFixed(3)}\n`,
);
await origin.close();
