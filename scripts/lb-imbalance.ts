/**
 * Measures how evenly least-connections spreads in-flight requests over two backends (one answers
 * in 100 ms, the other in 10 ms) with 2 workers, with the cluster-wide view (sharedInFlight: true,
 * the default) and with per-worker counting (sharedInFlight: false).
 *
 *   npm run build && node dist/scripts/lb-imbalance.js [connections=4,8,16] [seconds=4]
 *
 * The backends sample their own in-flight count every 5 ms; the imbalance is the ratio of the
 * time-averaged in-flight counts (max/min; 1.00 is perfect), plus the share of samples where one
 * backend had 2 or more requests more than the other.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFulcrum } from '../test/helpers/fulcrum.js';

interface Backend {
  url: string;
  inFlight: number;
  samples: number[];
  server: http.Server;
}

async function backend(delayMs: number): Promise<Backend> {
  const b = { inFlight: 0, samples: [] as number[] } as Backend;
  b.server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    b.inFlight++;
    setTimeout(() => {
      b.inFlight--;
      res.end('ok');
    }, delayMs);
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.url = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  return b;
}

async function run(shared: boolean, conns: number, seconds: number): Promise<string> {
  const slow = await backend(100);
  const fast = await backend(10);
  const f = await startFulcrum({
    workers: 2,
    upstreams: { app: { balance: 'least-connections', sharedInFlight: shared, servers: [{ url: slow.url }, { url: fast.url }] } },
    routes: [{ upstream: 'app' }],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const get = () =>
    new Promise<void>((resolve) => {
      http.get(`${f.url}/`, { agent }, (res) => res.resume().on('end', resolve)).on('error', () => resolve());
    });
  // warm the connections so both workers have theirs
  await Promise.all(Array.from({ length: conns }, get));
  const sampler = setInterval(() => {
    slow.samples.push(slow.inFlight);
    fast.samples.push(fast.inFlight);
  }, 5);
  const end = Date.now() + seconds * 1000;
  let requests = 0;
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (Date.now() < end) {
        await get();
        requests++;
      }
    }),
  );
  clearInterval(sampler);
  agent.destroy();
  await f.stop();
  slow.server.close();
  fast.server.close();
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const ms = mean(slow.samples);
  const mf = mean(fast.samples);
  let skewed = 0;
  for (let i = 0; i < slow.samples.length; i++) if (Math.abs(slow.samples[i]! - fast.samples[i]!) >= 2) skewed++;
  const ratio = Math.max(ms, mf) / Math.min(ms, mf);
  return `${shared ? 'cluster-wide' : 'per-worker  '}  conns=${String(conns).padStart(2)}  in-flight slow=${ms.toFixed(2)} fast=${mf.toFixed(2)}  max/min=${ratio.toFixed(2)}  |diff|>=2 in ${((100 * skewed) / slow.samples.length).toFixed(0)}% of samples  req/s=${(requests / seconds).toFixed(0)}`;
}

const connList = (process.argv[2] ?? '4,8,16').split(',').map(Number);
const seconds = Number(process.argv[3] ?? 4);
for (const c of connList) {
  for (const shared of [false, true]) console.log(await run(shared, c, seconds));
}
