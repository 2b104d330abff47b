/**
 * Sticky sessions end to end: the cookie fulcrum sets, a session staying on its server across
 * workers, moving when its server goes down, surviving the crash of every worker (the table
 * lives in the primary), ip mode, and the table's TTL and LRU bounds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, echoHandler, type Origin } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';
import { eventually, sleep, status, until } from './helpers/wait.js';

describe('sticky sessions', () => {
  it('cookie mode: sets an HttpOnly SameSite=Lax cookie and keeps the session on one server across workers', async () => {
    const os = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { sticky: { mode: 'cookie' }, servers: os.map((o) => ({ url: o.url })) } },
      routes: [{ upstream: 'app' }],
    });
    try {
      const first = await request(`${f.url}/login`);
      const setCookie = String(first.headers['set-cookie']);
      assert.match(setCookie, /^fulcrum_sid=[A-Za-z0-9_-]{22}\.[0-9a-z]{9}; Path=\/; HttpOnly; SameSite=Lax$/);
      const cookie = setCookie.split(';')[0]!;
      const home = echoed(first).origin;
      for (let i = 0; i < 12; i++) {
        const r = await request(`${f.url}/page${i}`, { headers: { cookie: `a=1; ${cookie}` } });
        assert.equal(echoed(r).origin, home);
        assert.equal(r.headers['set-cookie'], undefined);
      }
      // other clients are spread as usual
      const others = new Set<string>();
      for (let i = 0; i < 6; i++) others.add(echoed(await request(`${f.url}/`)).origin);
      assert.ok(others.size >= 2);
    } finally {
      await f.stop();
      await Promise.all(os.map((o) => o.close()));
    }
  });

  it('moves a session whose server is down, and the moved session survives the crash of every worker', async () => {
    const healthy: Record<string, boolean> = { a: true, b: true };
    const mk = (n: string) =>
      createOrigin(n, (req, res, o) => (req.url === '/healthz' ? res.writeHead(healthy[n] ? 200 : 503).end() : echoHandler(req, res, o)));
    const os: Origin[] = await Promise.all(['a', 'b'].map(mk));
    const f = await startFulcrum({
      workers: 2,
      upstreams: {
        app: {
          sticky: { mode: 'cookie' },
          servers: os.map((o) => ({ url: o.url })),
          healthCheck: { path: '/healthz', intervalMs: 250, timeoutMs: 250, rise: 1, fall: 2 },
        },
      },
      routes: [{ upstream: 'app' }],
    });
    try {
      const first = await request(`${f.url}/`);
      const cookie = String(first.headers['set-cookie']).split(';')[0]!;
      const home = echoed(first).origin;
      const other = home === 'a' ? 'b' : 'a';
      healthy[home] = false;
      await until(async () => (await status(f)).upstreams.app.servers.some((s: { health: string }) => s.health === 'down'), 'the server to go down');
      // the primary's verdict reaches the workers over IPC
      await eventually(async () => assert.equal(echoed(await request(`${f.url}/`, { headers: { cookie } })).origin, other));
      healthy[home] = true;
      await until(async () => (await status(f)).upstreams.app.servers.every((s: { health: string }) => s.health === 'up'), 'the server to come back');
      // once the move has reached the primary and every worker
      await eventually(async () => {
        for (let i = 0; i < 4; i++) assert.equal(echoed(await request(`${f.url}/`, { headers: { cookie } })).origin, other, 'the moved session stays moved');
      });
      // kill every worker: the session table must come back from the primary
      const pids = f.workerPids();
      assert.equal(pids.length, 2);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      await until(() => {
        const now = f.workerPids();
        return now.length === 2 && now.every((p) => !pids.includes(p));
      }, 'the workers to restart');
      await until(async () => (await request(`${f.url}/`).catch(() => ({ status: 0 }))).status === 200, 'the restarted workers to serve');
      for (let i = 0; i < 4; i++) assert.equal(echoed(await request(`${f.url}/`, { headers: { cookie } })).origin, other, 'the session survived the crash');
    } finally {
      await f.stop();
      await Promise.all(os.map((o) => o.close()));
    }
  });

  it('ip mode keeps a client address on one server; the table expires after ttlSeconds and is bounded by maxEntries', async () => {
    const os = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { sticky: { mode: 'ip', ttlSeconds: 1 }, servers: os.map((o) => ({ url: o.url })) } },
      routes: [{ upstream: 'app' }],
    });
    const g = await startFulcrum({
      workers: 1,
      upstreams: { app: { sticky: { mode: 'cookie', maxEntries: 5 }, servers: os.map((o) => ({ url: o.url })) } },
      routes: [{ upstream: 'app' }],
    });
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(echoed(await request(`${f.url}/`)).origin);
      assert.equal(seen.size, 1);
      await until(async () => (await status(f)).upstreams.app.sticky.sessions === 1, 'the session to reach the primary');
      await until(async () => (await status(f)).upstreams.app.sticky.sessions === 0, 'the session to expire', 4000);
      for (let i = 0; i < 12; i++) await request(`${g.url}/`);
      await until(async () => (await status(g)).upstreams.app.sticky.sessions >= 5, 'the sessions to reach the primary');
      await sleep(300); // any further sessions would have arrived too
      assert.equal((await status(g)).upstreams.app.sticky.sessions, 5);
    } finally {
      await Promise.all([f.stop(), g.stop()]);
      await Promise.all(os.map((o) => o.close()));
    }
  });
});
