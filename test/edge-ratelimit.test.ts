/**
 * Rate limiting: token bucket per client, 429 + Retry-After, per route, keyed by address or a
 * header, and one budget shared by all workers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { createOrigin } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

describe('rate limiting', () => {
  it('admits a burst, then answers 429 with Retry-After; routes can opt out or key by header', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: a.url }] } },
      rateLimit: { ratePerSecond: 0.5, burst: 5 },
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'app' },
        { host: '*', pathPrefix: '/free/', upstream: 'app', rateLimit: false },
        { host: '*', pathPrefix: '/api/', upstream: 'app', rateLimit: { ratePerSecond: 0.5, burst: 2, key: { header: 'x-api-key' } } },
      ],
    });
    try {
      const statuses: number[] = [];
      let retryAfter = '';
      for (let i = 0; i < 8; i++) {
        const r = await request(`${f.url}/x`);
        statuses.push(r.status);
        if (r.status === 429) retryAfter = String(r.headers['retry-after']);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
      assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 2, `Retry-After ${retryAfter}`);
      assert.equal(a.hits, 5);
      for (let i = 0; i < 8; i++) assert.equal((await request(`${f.url}/free/x`)).status, 200);
      const k = (key: string) => request(`${f.url}/api/x`, { headers: { 'x-api-key': key } }).then((r) => r.status);
      assert.deepEqual([await k('alice'), await k('alice'), await k('alice'), await k('bob'), await k('bob'), await k('bob')], [200, 200, 429, 200, 200, 429]);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('shares one budget across workers: 2 workers do not double the burst', async () => {
    const a = await createOrigin('a');
    const burst = 20;
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: [{ url: a.url }] } },
      rateLimit: { ratePerSecond: 1, burst },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    try {
      // a new connection per request: the kernel spreads them over both workers
      const statuses: number[] = [];
      for (let round = 0; round < 10; round++) {
        const rs = await Promise.all(Array.from({ length: 6 }, () => request(`${f.url}/x`)));
        statuses.push(...rs.map((r) => r.status));
        await new Promise((r) => setTimeout(r, 100));
      }
      const ok = statuses.filter((s) => s === 200).length;
      // 60 requests in ~1.5 s: the budget is burst + ~1.5 tokens; per-worker buckets would admit ~2 x burst
      assert.ok(ok >= burst - 4 && ok <= burst + 5, `admitted ${ok} of 60`);
      assert.equal(statuses.filter((s) => s === 429).length, 60 - ok);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('two workers admit one burst, round after round, each admitting on its own connections', { timeout: 60_000 }, async () => {
    // The issue-16 trial: after a pause, 40 sequential requests, each on a new connection (the
    // kernel spreads them over both workers). A worker must not spend the whole bucket on its own
    // estimate of its share: that let both workers admit a full burst in 3 of 5 rounds. Several
    // rounds, because the faulty estimate went stale only after a first round.
    const a = await createOrigin('a');
    const rate = 5;
    const burst = 10;
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: [{ url: a.url }] } },
      rateLimit: { ratePerSecond: rate, burst },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    try {
      const rounds: string[] = [];
      // the upstream connections the admitted requests arrived on: one pool per worker, so two
      // ports mean both workers admitted requests
      const ports = new Set<number>();
      a.server.on('request', (req: http.IncomingMessage) => ports.add(req.socket.remotePort!));
      for (let round = 0; round < 5; round++) {
        await new Promise((r) => setTimeout(r, 2500)); // the bucket refills (2 s) and the workers go idle
        const t0 = performance.now();
        let ok = 0;
        for (let i = 0; i < 40; i++) if ((await request(`${f.url}/r${round}-${i}`)).status === 200) ok++;
        const seconds = (performance.now() - t0) / 1000;
        // one burst, plus what the rate refills while the requests run (and one token begun)
        const most = burst + Math.ceil(rate * seconds) + 1;
        rounds.push(`round ${round}: ${ok} admitted in ${seconds.toFixed(2)} s (at most ${most})`);
        assert.ok(ok <= most, rounds.join('\n'));
        assert.ok(ok >= burst - 3, rounds.join('\n'));
      }
      assert.ok(ports.size >= 2, `admitted requests arrived on ${ports.size} upstream connection(s): both workers should admit some`);
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
