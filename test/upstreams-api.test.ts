/**
 * The upstreams admin API: list servers with health and in-flight counts, add and remove servers
 * and drain them at runtime, reaching every worker without dropping requests in flight, and
 * reflected in GET /status.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { createOrigin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { adminCall, echoed, request, type Reply } from './helpers/client.js';
import { eventually } from './helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const api = (f: Fulcrum, method: string, path: string, body?: unknown) =>
  method === 'GET' ? request(`${f.adminUrl}${path}`) : adminCall(f.adminUrl, method, path, body);

async function origins(f: Fulcrum, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(echoed(await request(`${f.url}/x`)).origin);
  return seen;
}

describe('upstreams admin API', () => {
  it('lists, adds, drains, undrains and removes servers; every worker follows; in-flight requests finish', async () => {
    const held: http.ServerResponse[] = [];
    const a = await createOrigin('a', (req, res, o) => {
      if (req.url === '/hold') return void held.push(res);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ origin: o.label }));
    });
    const b = await createOrigin('b');
    const c = await createOrigin('c');
    const f = await startFulcrum({ workers: 2, upstreams: { app: { servers: [{ url: a.url }, { url: b.url, weight: 2 }] } }, routes: [{ upstream: 'app' }] });
    const idA = `127.0.0.1_${a.port}`;
    const idC = `127.0.0.1_${c.port}`;
    try {
      let r = await api(f, 'GET', '/upstreams/app/servers');
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.text), [
        { id: idA, url: a.url, weight: 1, backup: false, maxConnections: 0, health: 'up', drained: false, inFlight: 0 },
        { id: `127.0.0.1_${b.port}`, url: b.url, weight: 2, backup: false, maxConnections: 0, health: 'up', drained: false, inFlight: 0 },
      ]);
      assert.equal((await api(f, 'GET', '/upstreams/nope/servers')).status, 404);

      // add c: every worker sends to it; the other servers keep their pooled connections
      await origins(f, 12);
      const bSockets = b.sockets;
      r = await api(f, 'POST', '/upstreams/app/servers', { url: c.url, weight: 1 });
      assert.equal(r.status, 201);
      assert.equal(JSON.parse(r.text).id, idC);
      assert.equal((await api(f, 'POST', '/upstreams/app/servers', { url: c.url })).status, 409);
      const bad = await api(f, 'POST', '/upstreams/app/servers', { url: 'ftp://x' });
      assert.equal(bad.status, 400);
      assert.match(bad.text, /\$\.url/);
      // the change reaches every worker over IPC
      await eventually(async () => assert.deepEqual([...(await origins(f, 12))].sort(), ['a', 'b', 'c']));
      assert.equal(b.sockets, bSockets, 'connections to b were not reopened');

      // a request in flight on a, then drain a: it finishes, no new request goes to a
      // round-robin may need a few requests to reach a; b and c answer /hold at once
      const holds: Promise<Reply>[] = [];
      for (let i = 0; i < 20 && held.length === 0; i++) {
        holds.push(request(`${f.url}/hold`));
        await sleep(40);
      }
      assert.equal(held.length >= 1, true);
      await sleep(250);
      r = await api(f, 'GET', '/upstreams/app/servers');
      assert.ok(JSON.parse(r.text).find((s: { id: string }) => s.id === idA).inFlight >= 1, r.text);
      r = await api(f, 'POST', `/upstreams/app/servers/${idA}/drain`);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.text).drained, true);
      await eventually(async () => assert.ok(!(await origins(f, 12)).has('a')));
      const st = JSON.parse((await api(f, 'GET', '/status')).text);
      assert.equal(st.upstreams.app.servers.find((s: { id: string }) => s.id === idA).drained, true);
      assert.equal(st.upstreams.app.servers.length, 3);

      // remove a while its request is still in flight: the request completes
      assert.equal((await api(f, 'DELETE', `/upstreams/app/servers/${idA}`)).status, 204);
      assert.equal((await api(f, 'DELETE', `/upstreams/app/servers/${idA}`)).status, 404);
      await sleep(100);
      for (const res of held.splice(0)) res.end('held done');
      assert.deepEqual(
        (await Promise.all(holds)).map((r) => r.status),
        holds.map(() => 200),
      );
      assert.deepEqual([...(await origins(f, 9))].sort(), ['b', 'c']);
      assert.equal(JSON.parse((await api(f, 'GET', '/status')).text).upstreams.app.servers.length, 2);

      // undrain is accepted for a server that is there
      assert.equal((await api(f, 'POST', `/upstreams/app/servers/${idC}/drain`)).status, 200);
      await eventually(async () => assert.deepEqual([...(await origins(f, 6))], ['b']));
      assert.equal((await api(f, 'POST', `/upstreams/app/servers/${idC}/undrain`)).status, 200);
      await eventually(async () => assert.deepEqual([...(await origins(f, 9))].sort(), ['b', 'c']));
    } finally {
      for (const res of held) res.end();
      await f.stop();
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
