/**
 * Routing (host and path, most specific wins, 404) and balancing (round-robin with weights,
 * least-connections), end to end: which backend answered is what a user notices.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createOrigin, type Origin } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';
import { rawExchange } from './helpers/raw.js';

describe('routing', () => {
  const names = ['exact', 'exactApi', 'wild', 'deepWild', 'any', 'anyStatic', 'admin'] as const;
  const o: Record<string, Origin> = {};
  let f: Fulcrum;
  before(async () => {
    for (const n of names) o[n] = await createOrigin(n);
    const up = (n: string) => ({ servers: [{ url: o[n]!.url }] });
    f = await startFulcrum({
      workers: 1,
      upstreams: Object.fromEntries(names.map((n) => [n, up(n)])),
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'any' },
        { host: '*', pathPrefix: '/static/', upstream: 'anyStatic' },
        { host: '*', pathPrefix: '/admin', upstream: 'admin' },
        { host: 'shop.example.com', pathPrefix: '/', upstream: 'exact' },
        { host: 'shop.example.com', pathPrefix: '/api/', upstream: 'exactApi' },
        { host: '*.example.com', pathPrefix: '/', upstream: 'wild' },
        { host: '*.eu.example.com', pathPrefix: '/', upstream: 'deepWild' },
        { host: 'only-api.example.org', pathPrefix: '/api/', upstream: 'exactApi' },
      ],
    });
  });
  after(async () => {
    await f.stop();
    await Promise.all(Object.values(o).map((x) => x.close()));
  });

  const who = async (host: string, path: string) => {
    const r = await request(`${f.url}${path}`, { headers: { host } });
    return r.status === 200 ? echoed(r).origin : String(r.status);
  };

  it('matches exact hosts, case-insensitively, ignoring the port', async () => {
    assert.equal(await who('shop.example.com', '/'), 'exact');
    assert.equal(await who('SHOP.Example.COM:8080', '/x'), 'exact');
    assert.equal(await who('shop.example.com.', '/x'), 'exact');
  });

  it('picks the longest path prefix within the host', async () => {
    assert.equal(await who('shop.example.com', '/api/v1'), 'exactApi');
    assert.equal(await who('shop.example.com', '/apix'), 'exact');
  });

  it('matches wildcards, the longest suffix first, not the bare domain', async () => {
    assert.equal(await who('a.example.com', '/'), 'wild');
    assert.equal(await who('a.b.example.com', '/'), 'wild');
    assert.equal(await who('x.eu.example.com', '/'), 'deepWild');
    assert.equal(await who('example.com', '/'), 'any');
  });

  it('falls back to "*" routes when the host has no matching prefix', async () => {
    assert.equal(await who('only-api.example.org', '/api/x'), 'exactApi');
    assert.equal(await who('only-api.example.org', '/other'), 'any');
    assert.equal(await who('unknown.test', '/static/app.js'), 'anyStatic');
  });

  it('routes on the normalised path but forwards the path as received', async () => {
    const r = await rawExchange(f.port, 'GET /static/../admin/x HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n');
    const e = JSON.parse(r.data.toString('latin1').split('\r\n\r\n')[1]!);
    assert.equal(e.origin, 'admin');
    assert.equal(e.url, '/static/../admin/x');
    const r2 = await rawExchange(f.port, 'GET /%61dmin HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n');
    assert.equal(JSON.parse(r2.data.toString('latin1').split('\r\n\r\n')[1]!).origin, 'admin');
    const r3 = await rawExchange(f.port, 'GET //static//a.js HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n');
    assert.equal(JSON.parse(r3.data.toString('latin1').split('\r\n\r\n')[1]!).origin, 'anyStatic');
  });

  it('answers 404 when nothing matches', async () => {
    const g = await startFulcrum({ workers: 1, upstreams: { a: { servers: [{ url: o.exact!.url }] } }, routes: [{ host: 'a.test', upstream: 'a' }] });
    try {
      const r = await request(`${g.url}/`, { headers: { host: 'b.test' } });
      assert.equal(r.status, 404);
      assert.equal((await request(`${g.url}/`, { headers: { host: 'a.test' } })).status, 200);
    } finally {
      await g.stop();
    }
  });
});

describe('balancing', () => {
  it('round-robin takes turns across servers', async () => {
    const os = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
    const f = await startFulcrum(oneUpstream(os.map((x) => x.url)));
    try {
      const seen: string[] = [];
      for (let i = 0; i < 9; i++) seen.push(echoed(await request(`${f.url}/rr`)).origin);
      assert.deepEqual(seen, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    } finally {
      await f.stop();
      await Promise.all(os.map((x) => x.close()));
    }
  });

  it('round-robin honours weights smoothly (5:1:1 -> a a b a c a a)', async () => {
    const os = await Promise.all(['a', 'b', 'c'].map((n) => createOrigin(n)));
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { balance: 'round-robin', servers: os.map((x, i) => ({ url: x.url, weight: i === 0 ? 5 : 1 })) } },
      routes: [{ upstream: 'app' }],
    });
    try {
      const seen: string[] = [];
      for (let i = 0; i < 14; i++) seen.push(echoed(await request(`${f.url}/w`)).origin);
      assert.deepEqual(seen.join(''), 'aabacaa'.repeat(2));
    } finally {
      await f.stop();
      await Promise.all(os.map((x) => x.close()));
    }
  });

  it('backup servers get requests only when no primary is available', async () => {
    const [p, b] = await Promise.all([createOrigin('primary'), createOrigin('backup')]);
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: p.url }, { url: b.url, backup: true }] } },
      routes: [{ upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 5; i++) assert.equal(echoed(await request(`${f.url}/`)).origin, 'primary');
    } finally {
      await f.stop();
      await Promise.all([p.close(), b.close()]);
    }
  });

  it('least-connections sends new requests to the server with fewer in flight', async () => {
    // the slow server holds its answers until the fast requests are done (a timer would let them
    // finish first on a loaded machine, and the test would measure the machine)
    const held: (() => void)[] = [];
    const slow = await createOrigin('slow', (req, res) => {
      // only the parked requests are held: one of the 20 that comes here is answered (and counted)
      if (req.url === '/p') held.push(() => res.end('slow'));
      else res.end('slow');
    });
    const fast = await createOrigin('fast', (req, res) => res.end('fast'));
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { balance: 'least-connections', servers: [{ url: slow.url }, { url: fast.url }] } },
      routes: [{ upstream: 'app' }],
    });
    try {
      // keep the slow server busy with 4 requests; everything else must go to the fast one
      const agent = new http.Agent({ keepAlive: true });
      const results: string[] = [];
      const parked: Promise<unknown>[] = [];
      for (let i = 0; i < 4; i++) {
        parked.push(request(`${f.url}/p`, { agent }).then((r) => results.push(r.text)));
        await new Promise((r) => setTimeout(r, 10));
      }
      for (let i = 0; i < 20; i++) results.push((await request(`${f.url}/q`, { agent })).text);
      for (const release of held.splice(0)) release();
      await Promise.all(parked);
      agent.destroy();
      const slowCount = results.filter((t) => t === 'slow').length;
      assert.ok(slowCount <= 3, `slow server got ${slowCount} of ${results.length}`);
      assert.ok(results.filter((t) => t === 'fast').length >= 21);
    } finally {
      await f.stop();
      await Promise.all([slow.close(), fast.close()]);
    }
  });
});
