/**
 * Reloads under load: a client hammering fulcrum through reloads that change routes, upstreams
 * and the worker count sees zero failed requests; the optional file watch reloads on save.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createOrigin } from './helpers/origin.js';
import { hammer } from './helpers/hammer.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { adminCall, echoed, request } from './helpers/client.js';

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

describe('reload under load', () => {
  it('changes routes, upstreams and the worker count with zero failed requests', { timeout: 60_000 }, async () => {
    const [a, b, c] = await Promise.all([createOrigin('a'), createOrigin('b'), createOrigin('c')]);
    const f = await startFulcrum({
      workers: 1,
      upstreams: { web: { servers: [{ url: a.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'web' }],
    });
    const h = hammer(f.url, 4);
    try {
      await until(() => h.ok() > 100, 10_000);
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      const reload = async (next: object) => {
        writeFileSync(f.configFile, JSON.stringify(next));
        const r = await adminCall(f.adminUrl, 'POST', '/reload');
        assert.equal(r.status, 200, r.text);
      };
      // 1: new upstream and route, same workers (pushed to the running workers)
      await reload({
        ...cfg,
        upstreams: { web: { servers: [{ url: a.url }] }, api: { servers: [{ url: b.url }] } },
        routes: [...cfg.routes, { host: '*', pathPrefix: '/api/', upstream: 'api' }],
      });
      await until(() => (h.seen.get('api:b') ?? 0) > 50, 10_000);
      // 2: two workers, web moves to c (rolled: new workers start before old ones stop)
      await reload({
        ...cfg,
        workers: 2,
        upstreams: { web: { servers: [{ url: c.url }] }, api: { servers: [{ url: b.url }] } },
        routes: [...cfg.routes, { host: '*', pathPrefix: '/api/', upstream: 'api' }],
      });
      await until(() => (h.seen.get('web:c') ?? 0) > 50, 10_000);
      // the old worker exits once its keep-alive clients have moved (150 ms without a request)
      await until(() => f.workerPids().length === 2, 10_000);
      assert.equal(f.workerPids().length, 2);
      // 3: back to one worker, the api route removed (its requests now go to web)
      await reload({ ...cfg, workers: 1, upstreams: { web: { servers: [{ url: c.url }] } } });
      await until(() => (h.seen.get('api:c') ?? 0) > 50, 10_000);
      await h.stop();
      assert.deepEqual(
        h.failures,
        [],
        `${h.failures.length} failed of ${h.ok() + h.failures.length}\n${f
          .logs()
          .split('\n')
          .filter((l) => /request failed|refused|error/.test(l))
          .slice(-10)
          .join('\n')}`,
      );
      assert.ok(
        (h.seen.get('web:a') ?? 0) > 0 && (h.seen.get('api:b') ?? 0) > 0 && (h.seen.get('web:c') ?? 0) > 0 && (h.seen.get('api:c') ?? 0) > 0,
        JSON.stringify([...h.seen]),
      );
      await until(() => f.workerPids().length === 1, 5_000);
      assert.equal(f.workerPids().length, 1);
      // the metrics lost nothing across the rolls: the drained workers reported before exiting
      const total = async () =>
        (await request(`${f.adminUrl}/metrics`)).text
          .split('\n')
          .filter((l) => l.startsWith('fulcrum_requests_total{'))
          .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      let counted = 0;
      const deadline = Date.now() + 5000;
      while ((counted = await total()) !== h.ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(counted, h.ok());
    } finally {
      await h.stop();
      await f.stop();
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('reloads when the config file changes, with --watch', async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const f = await startFulcrum(
      { workers: 1, upstreams: { app: { servers: [{ url: a.url }] } }, routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }] },
      { args: ['--watch'] },
    );
    try {
      assert.equal(echoed(await request(`${f.url}/`)).origin, 'a');
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, upstreams: { app: { servers: [{ url: b.url }] } } }));
      let who = '';
      const deadline = Date.now() + 5000;
      while (who !== 'b' && Date.now() < deadline) {
        who = echoed(await request(`${f.url}/`)).origin;
        if (who !== 'b') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(who, 'b');
      assert.ok(f.logLines().some((l) => l.msg === 'reloaded' && l.source === 'watch'));
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
