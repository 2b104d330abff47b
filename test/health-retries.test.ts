/**
 * Health and retries end to end: active checks in the primary (down after `fall` failed probes,
 * back after `rise`), passive ejection from the workers' failure reports, and retries on another
 * server, so that killing one of three backends under load costs no GET request.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createOrigin, deadPort, echoHandler, type Origin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';
import { eventually, until } from './helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForLog(f: Fulcrum, msg: string, server: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = f.logLines().find((l) => l.msg === msg && l.server === server);
    if (line) return Date.parse(line.time as string);
    if (Date.now() > deadline) throw new Error(`no "${msg}" for ${server} within ${timeoutMs} ms:\n${f.logs()}`);
    await sleep(20);
  }
}

const idOf = (o: Origin) => `127.0.0.1_${o.port}`;

/** a GET loop over `conns` keep-alive connections for `ms`: counts answers per origin and failures */
async function load(url: string, conns: number, ms: number): Promise<{ ok: number; failed: string[]; by: Map<string, number> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const end = Date.now() + ms;
  const out = { ok: 0, failed: [] as string[], by: new Map<string, number>() };
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (Date.now() < end) {
        try {
          const r = await request(`${url}/load`, { agent });
          if (r.status !== 200) out.failed.push(`status ${r.status}: ${r.text}`);
          else {
            out.ok++;
            const o = echoed(r).origin;
            out.by.set(o, (out.by.get(o) ?? 0) + 1);
          }
        } catch (err) {
          out.failed.push((err as Error).message);
        }
      }
    }),
  );
  agent.destroy();
  return out;
}

describe('health checks and retries', () => {
  it('active check: down after fall failed probes, back after rise, pushed to every worker and logged', async () => {
    let healthy = true;
    const a = await createOrigin('a', (req, res, o) =>
      req.url === '/healthz' ? res.writeHead(healthy ? 200 : 500).end(healthy ? 'ok' : 'sick') : echoHandler(req, res, o),
    );
    const b = await createOrigin('b');
    const hc = { path: '/healthz', intervalMs: 100, timeoutMs: 80, rise: 2, fall: 2, expectStatus: '200-299' };
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: [{ url: a.url }, { url: b.url }], healthCheck: hc } },
      routes: [{ upstream: 'app' }],
    });
    try {
      healthy = false;
      const t0 = Date.now();
      const downAt = await waitForLog(f, 'server down (active health check)', idOf(a));
      assert.ok(downAt - t0 <= hc.fall * hc.intervalMs + 400, `down after ${downAt - t0} ms`);
      // the primary's verdict reaches the workers over IPC
      await eventually(async () => {
        for (let i = 0; i < 10; i++) assert.equal(echoed(await request(`${f.url}/x`)).origin, 'b');
      });
      const st = JSON.parse((await request(`${f.adminUrl}/status`)).text);
      assert.equal(st.upstreams.app.servers[0].health, 'down');
      assert.equal(st.upstreams.app.servers[1].health, 'up');
      healthy = true;
      await waitForLog(f, 'server up (active health check)', idOf(a));
      await eventually(async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) seen.add(echoed(await request(`${f.url}/x`)).origin);
        assert.deepEqual([...seen].sort(), ['a', 'b']);
      });
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('active check: expectStatus list and expectBody regex', async () => {
    const a = await createOrigin('a', (req, res) => res.end('status: degraded'));
    const b = await createOrigin('b', (req, res) => res.end('status: fine'));
    const f = await startFulcrum({
      workers: 1,
      upstreams: {
        app: {
          servers: [{ url: a.url }, { url: b.url }],
          // a generous timeout: b must never be called down, even on a loaded machine
          healthCheck: { path: '/h', intervalMs: 500, timeoutMs: 450, fall: 1, expectStatus: [200], expectBody: '/status: (fine|ok)/' },
        },
      },
      routes: [{ upstream: 'app' }],
    });
    try {
      await waitForLog(f, 'server down (active health check)', idOf(a));
      // the primary pushes the verdict to the worker: wait for it (bounded), not a fixed sleep;
      // round-robin alternates a and b, so two answers from b in a row mean a is out
      const fromB = async () => (await request(`${f.url}/`)).text === 'status: fine';
      await until(async () => (await fromB()) && (await fromB()), 'the worker to hear of the verdict');
      for (let i = 0; i < 4; i++) assert.equal((await request(`${f.url}/`)).text, 'status: fine');
      assert.ok(!f.logLines().some((l) => l.msg === 'server down (active health check)' && l.server === idOf(b)));
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('passive check: maxFails within failWindowMs ejects for ejectMs, then the server returns', async () => {
    const bad = await createOrigin('bad', (req, res) => res.writeHead(503).end('busy'));
    const good = await createOrigin('good', (req, res) => res.end('good'));
    const f = await startFulcrum({
      workers: 2,
      upstreams: {
        app: { servers: [{ url: bad.url }, { url: good.url }], passiveHealth: { maxFails: 3, failWindowMs: 10000, ejectMs: 600, failStatuses: [503] } },
      },
      routes: [{ upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 8 && !f.logLines().some((l) => l.msg === 'server ejected (passive health check)'); i++) await request(`${f.url}/`);
      await waitForLog(f, 'server ejected (passive health check)', idOf(bad));
      await eventually(async () => {
        const hitsBefore = bad.hits;
        for (let i = 0; i < 6; i++) assert.equal((await request(`${f.url}/`)).text, 'good');
        assert.equal(bad.hits, hitsBefore);
      });
      await waitForLog(f, 'server back from ejection', idOf(bad));
      // failing again soon after: ejected for twice as long
      const ejections = () => f.logLines().filter((l) => l.msg === 'server ejected (passive health check)');
      for (let i = 0; i < 12 && ejections().length < 2; i++) {
        await request(`${f.url}/`);
        await sleep(30);
      }
      assert.deepEqual(
        ejections().map((l) => l.ejectMs),
        [600, 1200],
      );
    } finally {
      await f.stop();
      await Promise.all([bad.close(), good.close()]);
    }
  });

  it('when no server is up (here: the only one, ejected), requests still try them (nginx, Envoy panic mode)', async () => {
    const only = await createOrigin('only', (req, res) => res.writeHead(503).end('busy'));
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: only.url }], passiveHealth: { maxFails: 2, ejectMs: 60000, failStatuses: [503] } } },
      routes: [{ upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 3; i++) await request(`${f.url}/`);
      await waitForLog(f, 'server ejected (passive health check)', idOf(only));
      await sleep(50);
      const r = await request(`${f.url}/`);
      assert.equal(r.status, 503);
      assert.equal(r.text, 'busy', 'the server answered, not fulcrum');
      assert.equal(only.hits, 4);
    } finally {
      await f.stop();
      await only.close();
    }
  });

  it('retries a refused connection on another server, never the same one twice, any method', async () => {
    const dead1 = await deadPort();
    const dead2 = await deadPort();
    const ok = await createOrigin('ok');
    const f = await startFulcrum({
      workers: 1,
      upstreams: {
        app: { servers: [{ url: `http://127.0.0.1:${dead1}` }, { url: `http://127.0.0.1:${dead2}` }, { url: ok.url }], passiveHealth: { maxFails: 0 } },
      },
      routes: [{ upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await request(`${f.url}/p`, { method: 'POST', body: `payload-${i}` });
        assert.equal(r.status, 200);
        assert.equal(echoed(r).body, `payload-${i}`);
      }
    } finally {
      await f.stop();
    }
    // hostHeader "server": a retried request names the server it reached
    const h = await startFulcrum({
      workers: 1,
      upstreams: { app: { hostHeader: 'server', servers: [{ url: `http://127.0.0.1:${dead1}` }, { url: ok.url }], passiveHealth: { maxFails: 0 } } },
      routes: [{ upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 2; i++) assert.equal(echoed(await request(`${h.url}/`)).headers.host, `127.0.0.1:${ok.port}`);
    } finally {
      await h.stop();
      await ok.close();
    }
    // retries: 1 cannot get past two dead servers in a row
    const g = await startFulcrum({
      workers: 1,
      upstreams: { app: { retries: 1, servers: [{ url: `http://127.0.0.1:${dead1}` }, { url: `http://127.0.0.1:${dead2}` }], passiveHealth: { maxFails: 0 } } },
      routes: [{ upstream: 'app' }],
    });
    try {
      assert.equal((await request(`${g.url}/`)).status, 502);
    } finally {
      await g.stop();
    }
  });

  it('retries an idempotent request reset before any response byte; never a POST whose body was sent', async () => {
    const resetter = await createOrigin('reset', (req) => req.socket.destroy());
    const ok = await createOrigin('ok');
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: resetter.url }, { url: ok.url }], passiveHealth: { maxFails: 0 } } },
      routes: [{ upstream: 'app' }, { pathPrefix: '/unsafe/', upstream: 'app', retryUnsafe: true }],
    });
    try {
      for (let i = 0; i < 4; i++) assert.equal((await request(`${f.url}/g`)).status, 200);
      for (let i = 0; i < 2; i++) assert.equal((await request(`${f.url}/put`, { method: 'PUT', body: 'x' })).status, 200);
      const posts = [];
      for (let i = 0; i < 4; i++) posts.push((await request(`${f.url}/post`, { method: 'POST', body: 'once' })).status);
      assert.ok(posts.includes(502), `POSTs: ${posts}`);
      const before = resetter.hits;
      const unsafe = [];
      for (let i = 0; i < 4; i++) unsafe.push((await request(`${f.url}/unsafe/post`, { method: 'POST', body: 'again' })).status);
      assert.deepEqual(unsafe, [200, 200, 200, 200]);
      assert.ok(resetter.hits > before);
    } finally {
      await f.stop();
      await Promise.all([resetter.close(), ok.close()]);
    }
  });

  it('killing 1 of 3 backends under load (64 connections) fails no GET; the check marks it down within fall*intervalMs and back after rise', async (t) => {
    const os = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
    const victim = os[1]!;
    const hc = { path: '/healthz', intervalMs: 200, timeoutMs: 200, rise: 2, fall: 2 };
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: os.map((o) => ({ url: o.url })), healthCheck: hc, passiveHealth: { maxFails: 0 } } },
      routes: [{ upstream: 'app' }],
    });
    try {
      let killedAt = 0;
      const run = load(f.url, 64, 3000);
      await sleep(1000);
      killedAt = Date.now();
      victim.server.closeAllConnections();
      victim.server.close();
      const result = await run;
      const reasons = [
        ...new Set(
          f
            .logLines()
            .filter((l) => l.msg === 'upstream request failed')
            .map((l) => `${l.status} ${l.server} ${l.reason}`),
        ),
      ];
      assert.deepEqual(
        result.failed.slice(0, 5),
        [],
        `${result.failed.length} failed of ${result.ok + result.failed.length}: ${reasons.slice(0, 5).join(' | ')}`,
      );
      assert.ok(result.ok > 100, `only ${result.ok} requests`);
      const downAt = await waitForLog(f, 'server down (active health check)', idOf(victim));
      assert.ok(downAt - killedAt <= hc.fall * hc.intervalMs + 400, `down ${downAt - killedAt} ms after the kill`);
      // bring it back on the same port
      const backAt = Date.now();
      await new Promise<void>((resolve) => victim.server.listen(victim.port, '127.0.0.1', resolve));
      const upAt = await waitForLog(f, 'server up (active health check)', idOf(victim));
      t.diagnostic(
        `${result.ok} GETs, ${result.failed.length} failed; down ${downAt - killedAt} ms after the kill (fall*intervalMs = ${hc.fall * hc.intervalMs}); up ${upAt - backAt} ms after it listens again (rise*intervalMs = ${hc.rise * hc.intervalMs})`,
      );
      assert.ok(upAt - downAt >= hc.rise * hc.intervalMs - 250);
      // the primary's verdict reaches the worker a moment later: round-robin shows all three
      // within a bounded wait (not a fixed sleep: the machine may be loaded)
      const seen = new Set<string>();
      const until = Date.now() + 5000;
      while (seen.size < 3 && Date.now() < until) seen.add(echoed(await request(`${f.url}/after`)).origin);
      assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
    } finally {
      await f.stop();
      await Promise.all(os.map((o) => o.close().catch(() => {})));
    }
  });
});
