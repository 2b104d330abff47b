/**
 * Balancing policies end to end through the real proxy: which backend answered is what a user
 * notices. The distribution of every policy is checked in balancer-conformance.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, type Origin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';

describe('balancing policies end to end', () => {
  let os: Origin[];
  before(async () => {
    os = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
  });
  after(async () => {
    await Promise.all(os.map((o) => o.close()));
  });

  const start = (upstream: Record<string, unknown>, workers = 2): Promise<Fulcrum> =>
    startFulcrum({ workers, upstreams: { app: { servers: os.map((o) => ({ url: o.url })), ...upstream } }, routes: [{ upstream: 'app' }] });

  it('hash on a header keeps each user on one server, across workers, and spreads users', async () => {
    const f = await start({ balance: 'hash', hashKey: { header: 'x-user' } });
    try {
      const home = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let u = 0; u < 12; u++) {
          const who = echoed(await request(`${f.url}/x`, { headers: { 'x-user': `u${u}` } })).origin;
          if (round === 0) home.set(`u${u}`, who);
          else assert.equal(who, home.get(`u${u}`), `user u${u} moved`);
        }
      }
      assert.ok(new Set(home.values()).size >= 2, `12 users all on ${[...home.values()]}`);
    } finally {
      await f.stop();
    }
  });

  it('hash on a cookie reads the cookie among others; no cookie goes round-robin', async () => {
    const f = await start({ balance: 'hash', hashKey: { cookie: 'uid' } }, 1);
    try {
      const first = echoed(await request(`${f.url}/`, { headers: { cookie: 'theme=dark; uid=alice; x=1' } })).origin;
      for (let i = 0; i < 4; i++) assert.equal(echoed(await request(`${f.url}/`, { headers: { cookie: `uid=alice; n=${i}` } })).origin, first);
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) seen.add(echoed(await request(`${f.url}/`)).origin);
      assert.equal(seen.size, 3);
    } finally {
      await f.stop();
    }
  });

  it('ip-hash sends one client address always to the same server', async () => {
    const f = await start({ balance: 'ip-hash' });
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(echoed(await request(`${f.url}/`)).origin);
      assert.equal(seen.size, 1);
    } finally {
      await f.stop();
    }
  });

  it('least-time sends almost everything to the faster server', async () => {
    const slow = await createOrigin('slow', (req, res) => setTimeout(() => res.end('slow'), 60));
    const fast = await createOrigin('fast', (req, res) => res.end('fast'));
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { balance: 'least-time', servers: [{ url: slow.url }, { url: fast.url }] } },
      routes: [{ upstream: 'app' }],
    });
    try {
      let toSlow = 0;
      for (let i = 0; i < 30; i++) if ((await request(`${f.url}/`)).text === 'slow') toSlow++;
      assert.ok(toSlow <= 3, `the slow server got ${toSlow} of 30`);
    } finally {
      await f.stop();
      await Promise.all([slow.close(), fast.close()]);
    }
  });

  it('refuses balance "hash" without a hashKey, naming the path', async () => {
    await assert.rejects(start({ balance: 'hash' }), /\$\.upstreams\.app\.hashKey/);
  });
});
