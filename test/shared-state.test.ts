/**
 * Shared state across two fulcrum hosts (two `fulcrum start` process trees with the same config
 * on different ports) through one real redis-server started by the test: sticky sessions, one
 * rate budget, cache purges, Redis killed mid-test with zero failed requests, and the re-sync when it returns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createOrigin, type Origin } from './helpers/origin.js';
import { startFulcrum, startFulcrums, type Fulcrum } from './helpers/fulcrum.js';
import { adminCall, echoed, request } from './helpers/client.js';
import { sleep, status, until } from './helpers/wait.js';
import { redisMissing, startRedis, type RedisServer } from './helpers/redis.js';

const skip = redisMissing();

describe('shared state on redis (two hosts)', { skip }, () => {
  let redis: RedisServer;
  let origins: Origin[];
  let hosts: Fulcrum[] = [];
  before(async () => {
    redis = await startRedis();
    origins = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
  });
  after(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await redis.stop();
    await Promise.all(origins.map((o) => o.close()));
  });
  const twoHosts = async (extra: Record<string, unknown> = {}, upstreamExtra: Record<string, unknown> = {}) => {
    const cfg = {
      workers: 1,
      upstreams: {
        app: { balance: 'round-robin', sticky: { mode: 'cookie', ttlSeconds: 60 }, servers: origins.map((o) => ({ url: o.url })), ...upstreamExtra },
      },
      routes: [{ upstream: 'app' }],
      sharedState: { redis: { url: redis.url } },
      ...extra,
    };
    const hs = await startFulcrums([cfg, cfg]);
    hosts.push(...hs);
    for (const h of hs) await until(async () => (await status(h)).sharedState?.connected === true, 'redis connected');
    return hs as [Fulcrum, Fulcrum];
  };
  const byName = (n: string) => origins[['a', 'b', 'c'].indexOf(n)]!;
  const stopHosts = async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    hosts = [];
  };

  it('a session created through host A sticks to the same server through host B, and a move on A reaches B', async () => {
    const [a, b] = await twoHosts();
    try {
      const first = await request(`${a.url}/login`);
      const t0 = performance.now();
      const cookie = String(first.headers['set-cookie']).split(';')[0]!;
      const home = echoed(first).origin;
      await until(async () => (await status(b)).upstreams.app.sticky.sessions === 1, 'host B learns the session');
      const propagationMs = performance.now() - t0;
      console.log(`# session created on A known to B after ${propagationMs.toFixed(0)} ms (polling /status every 10 ms)`);
      for (let i = 0; i < 4; i++) assert.equal(echoed(await request(`${b.url}/p${i}`, { headers: { cookie } })).origin, home);
      // in Redis, with the session ttl
      const cli = new Redis(redis.url);
      try {
        const keys = await cli.keys('fulcrum:s:app:*');
        assert.equal(keys.length, 1);
        const ttl = await cli.pttl(keys[0]!);
        assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
      } finally {
        cli.disconnect();
      }
      // drain the session's server on A only: the session moves there, and B follows the table, not the cookie's hint
      const id = `127.0.0.1_${new URL(byName(home).url).port}`;
      assert.equal((await adminCall(a.adminUrl, 'POST', `/upstreams/app/servers/${id}/drain`)).status, 200);
      await sleep(300);
      const moved = echoed(await request(`${a.url}/again`, { headers: { cookie } })).origin;
      assert.notEqual(moved, home);
      await until(async () => echoed(await request(`${b.url}/follow`, { headers: { cookie } })).origin === moved, 'B follows the move', 5000);
      for (let i = 0; i < 4; i++) assert.equal(echoed(await request(`${b.url}/q${i}`, { headers: { cookie } })).origin, moved);
    } finally {
      await stopHosts();
    }
  });

  it('one rate budget across hosts: burst 10 spent half on A, B admits only the rest', async () => {
    const [a, b] = await twoHosts({ rateLimit: { ratePerSecond: 0.2, burst: 10 } });
    try {
      const codes = async (h: Fulcrum, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await request(`${h.url}/x${i}`)).status);
        return out;
      };
      const onA = await codes(a, 6);
      assert.deepEqual(onA, [200, 200, 200, 200, 200, 200]);
      await sleep(600); // hosts learn each other's spending within a few report intervals
      const onB = await codes(b, 10);
      const admitted = onB.filter((c) => c === 200).length;
      assert.ok(admitted >= 3 && admitted <= 5, `B admitted ${admitted} of 10 (${onB.join(',')}); the shared budget had 4 left`);
      assert.ok(
        onB.slice(-3).every((c) => c === 429),
        onB.join(','),
      );
    } finally {
      await stopHosts();
    }
  });

  it("POST /cache/purge on host A drops the entry from host B's workers too", async () => {
    let version = 1;
    const o = await createOrigin('v', (_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end(`v${version}`);
    });
    const cfg = {
      workers: 2,
      upstreams: { app: { servers: [{ url: o.url }] } },
      routes: [{ upstream: 'app', cache: true }],
      sharedState: { redis: { url: redis.url } },
    };
    const [a, b] = (await startFulcrums([cfg, cfg])) as [Fulcrum, Fulcrum];
    hosts.push(a, b);
    try {
      for (const h of [a, b]) await until(async () => (await status(h)).sharedState?.connected === true, 'redis connected');
      // fill every worker's cache on both hosts (a few rounds: connections land on either worker)
      for (let i = 0; i < 8; i++) for (const h of [a, b]) assert.equal((await request(`${h.url}/page`)).text, 'v1');
      version = 2;
      assert.equal((await request(`${b.url}/page`)).text, 'v1');
      const p = await adminCall(a.adminUrl, 'POST', '/cache/purge', { prefix: '/page' });
      assert.equal(p.status, 200);
      await until(async () => (await request(`${b.url}/page`)).text === 'v2', 'B drops the purged entry');
      await sleep(300);
      for (let i = 0; i < 8; i++) for (const h of [a, b]) assert.equal((await request(`${h.url}/page`)).text, 'v2');
    } finally {
      await stopHosts();
      await o.close();
    }
  });

  it('a password in the URL authenticates and is never printed', async () => {
    const locked = await startRedis(undefined, ['--requirepass', 's3cret-pw']);
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: origins[0]!.url }] } },
      routes: [{ upstream: 'app' }],
      sharedState: { redis: { url: `redis://:s3cret-pw@127.0.0.1:${locked.port}` } },
    });
    try {
      await until(async () => (await status(f)).sharedState?.connected === true, 'redis connected');
      const st = JSON.stringify(await status(f));
      assert.ok(st.includes(`redis://:***@127.0.0.1:${locked.port}`), st);
      for (const text of [st, f.logs(), (await request(`${f.adminUrl}/metrics`)).text]) assert.ok(!text.includes('s3cret-pw'));
    } finally {
      await f.stop();
      await locked.stop();
    }
  });

  it('redis killed mid-test: zero failed requests, degraded in /status, re-synced when it returns', async () => {
    const [a, b] = await twoHosts();
    try {
      const codes = new Map<number, number>();
      const cookies: string[] = [];
      for (let i = 0; i < 120; i++) {
        if (i === 40) await redis.kill();
        const r = await request(`${(i % 2 ? b : a).url}/r${i}`, cookies[i % 7] ? { headers: { cookie: cookies[i % 7]! } } : {});
        codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
        if (r.headers['set-cookie'] && !cookies[i % 7]) cookies[i % 7] = String(r.headers['set-cookie']).split(';')[0]!;
      }
      assert.deepEqual([...codes], [[200, 120]]);
      await until(async () => (await status(a)).sharedState.connected === false, 'A reports redis down');
      const st = (await status(a)).sharedState;
      assert.equal(typeof st.degradedSince, 'string');
      assert.match(a.logs(), /redis unreachable; serving with local state/);
      assert.match((await request(`${a.adminUrl}/metrics`)).text, /^fulcrum_shared_state_up 0$/m);
      // a session created on A while redis is down reaches B once redis is back (A re-syncs)
      const r = await request(`${a.url}/while-down`);
      const cookie = String(r.headers['set-cookie']).split(';')[0]!;
      await sleep(300);
      redis = await startRedis(redis.port);
      for (const h of [a, b]) await until(async () => (await status(h)).sharedState.connected === true, 'reconnected', 10_000);
      assert.match((await request(`${a.adminUrl}/metrics`)).text, /^fulcrum_shared_state_up 1$/m);
      const cli = new Redis(redis.url);
      try {
        await until(
          async () => (await cli.get(`fulcrum:s:app:${cookie.split('=')[1]}`)) === `127.0.0.1_${new URL(byName(echoed(r).origin).url).port}`,
          'session written back to redis',
        );
      } finally {
        cli.disconnect();
      }
    } finally {
      await stopHosts();
    }
  });
});
