/**
 * The admin listener: status, token, reload keeping the old config when the new one is bad.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createOrigin } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { adminCall, echoed, request } from './helpers/client.js';

describe('admin listener', () => {
  it('serves /status on loopback', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { workers: 2 }));
    try {
      const r = await request(`${f.adminUrl}/status`);
      assert.equal(r.status, 200);
      const s = JSON.parse(r.text);
      assert.equal(s.workers.length, 2);
      assert.ok(s.workers.every((w: { pid: number }) => w.pid > 0));
      assert.equal(s.upstreams.app.servers[0].url, a.url);
      assert.equal(s.upstreams.app.servers[0].id, `127.0.0.1_${a.port}`);
      assert.equal((await request(`${f.adminUrl}/nope`)).status, 404);
      assert.equal((await request(`${f.adminUrl}/status`, { method: 'DELETE' })).status, 405);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('requires the bearer token when one is set, and never prints it', async () => {
    const a = await createOrigin('a');
    const token = 'a-very-secret-admin-token-123';
    const f = await startFulcrum(oneUpstream([a.url], { admin: { token } }));
    try {
      assert.equal((await request(`${f.adminUrl}/status`)).status, 401);
      assert.equal((await request(`${f.adminUrl}/status`, { headers: { authorization: 'Bearer wrong-token-wrong-token-1' } })).status, 401);
      assert.equal((await request(`${f.adminUrl}/status`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.ok(!f.logs().includes(token));
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('reloads a good config and refuses a bad one, keeping the old one running', async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const f = await startFulcrum(oneUpstream([a.url]));
    try {
      assert.equal(echoed(await request(`${f.url}/`)).origin, 'a');
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, upstreams: { app: { servers: [{ url: 'not a url' }] } } }));
      const bad = await adminCall(f.adminUrl, 'POST', '/reload');
      assert.equal(bad.status, 422);
      assert.match(bad.text, /\$\.upstreams\.app\.servers\[0\]\.url/);
      assert.equal(echoed(await request(`${f.url}/`)).origin, 'a', 'the old config keeps serving');

      writeFileSync(f.configFile, JSON.stringify({ ...cfg, upstreams: { app: { servers: [{ url: b.url }] } } }));
      const good = await adminCall(f.adminUrl, 'POST', '/reload');
      assert.equal(good.status, 200);
      const deadline = Date.now() + 3000;
      let who = '';
      while (Date.now() < deadline && who !== 'b') {
        who = echoed(await request(`${f.url}/`)).origin;
        if (who !== 'b') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(who, 'b');
      // SIGHUP does the same
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, upstreams: { app: { servers: [{ url: a.url }] } } }));
      f.proc.kill('SIGHUP');
      const deadline2 = Date.now() + 3000;
      while (Date.now() < deadline2 && who !== 'a') {
        who = echoed(await request(`${f.url}/`)).origin;
        if (who !== 'a') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(who, 'a');
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
