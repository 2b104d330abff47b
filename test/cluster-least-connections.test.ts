/**
 * Cluster-wide least-connections: every worker reports its in-flight counts, the primary merges
 * them and pushes the merged view back, so a worker's pick counts the other workers' requests.
 * scripts/lb-imbalance.ts measures the effect under load; this checks it deterministically.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { createOrigin } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cluster-wide least-connections', () => {
  it('spreads held requests evenly whichever worker takes them, and /status shows the merged counts', async () => {
    const held: http.ServerResponse[] = [];
    const hold = (label: string) =>
      createOrigin(label, (req, res) => {
        res.setHeader('x-origin', label);
        held.push(res);
      });
    const [a, b] = await Promise.all([hold('a'), hold('b')]);
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { balance: 'least-connections', servers: [{ url: a.url }, { url: b.url }] } },
      routes: [{ upstream: 'app' }],
    });
    const pending: Promise<unknown>[] = [];
    try {
      // one request per new connection (the kernel picks the worker), leaving time for the merge
      for (let i = 0; i < 6; i++) {
        pending.push(request(`${f.url}/h${i}`, { agent: false }).catch(() => {}));
        await sleep(350);
      }
      assert.equal(a.hits + b.hits, 6);
      assert.equal(a.hits, 3, `a holds ${a.hits}, b holds ${b.hits}`);
      const st = JSON.parse((await request(`${f.adminUrl}/status`)).text);
      assert.deepEqual(
        st.upstreams.app.servers.map((s: { inFlight: number }) => s.inFlight),
        [3, 3],
      );
    } finally {
      for (const r of held) r.end('done');
      await Promise.all(pending);
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
