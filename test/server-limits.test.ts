/**
 * Per-server maxConnections with the upstream's bounded queue (queueSize, queueTimeoutMs -> 503
 * with Retry-After),
 * and slowStartMs ramping a recovered server's share.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { createOrigin, echoHandler } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { echoed, request, type Reply } from './helpers/client.js';
import { until } from './helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('server limits', () => {
  it('maxConnections queues requests FIFO, 503 when the queue is full or after queueTimeoutMs', async () => {
    const held: http.ServerResponse[] = [];
    const a = await createOrigin('a', (req, res) => held.push(res));
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: a.url, maxConnections: 2 }], queueSize: 2, queueTimeoutMs: 700 } },
      routes: [{ upstream: 'app' }],
    });
    try {
      const replies: Promise<Reply>[] = [];
      for (let i = 1; i <= 4; i++) {
        replies.push(request(`${f.url}/r${i}`));
        await sleep(60);
      }
      await until(() => a.hits >= 2, 'two requests at the server');
      assert.equal(a.hits, 2, 'two in flight, two queued');
      const t = Date.now();
      const full = await request(`${f.url}/r5`);
      assert.equal(full.status, 503, 'queue full');
      assert.equal(full.headers['retry-after'], '1', 'an overloaded 503 says when to come back');
      assert.ok(Date.now() - t < 500);
      held.shift()!.end('one');
      await until(() => a.hits >= 3, 'the first queued request at the server');
      assert.equal(a.hits, 3);
      assert.equal(a.requests[2]!.url, '/r3', 'FIFO');
      const r4 = await replies[3]!;
      assert.equal(r4.status, 503, 'queue timeout');
      assert.equal(r4.headers['retry-after'], '1');
      for (const r of held.splice(0)) r.end('rest');
      assert.deepEqual(
        (await Promise.all(replies.slice(0, 3))).map((r) => r.status),
        [200, 200, 200],
      );
    } finally {
      for (const r of held) r.end();
      await f.stop();
      await a.close();
    }
  });

  it('slowStartMs ramps a server that comes back from near zero', async () => {
    let healthy = true;
    const a = await createOrigin('a', (req, res, o) => (req.url === '/healthz' ? res.writeHead(healthy ? 200 : 503).end() : echoHandler(req, res, o)));
    const b = await createOrigin('b');
    const f = await startFulcrum({
      workers: 1,
      upstreams: {
        app: {
          // long enough that the 20 requests below stay early in the ramp on a loaded machine too
          slowStartMs: 20000,
          servers: [{ url: a.url }, { url: b.url }],
          // fall 3 with a 150 ms timeout: on a loaded machine an 80 ms probe of b could fail once,
          // take b down and send everything to a (seen: 10 of 20)
          healthCheck: { path: '/healthz', intervalMs: 150, timeoutMs: 150, rise: 1, fall: 3 },
        },
      },
      routes: [{ upstream: 'app' }],
    });
    try {
      healthy = false;
      // bounded, and failing when the transition never comes (under load it can take a while;
      // going on without it would test nothing)
      const until = async (msg: string) => {
        for (let i = 0; !f.logLines().some((l) => l.msg === msg); i++) {
          if (i >= 400) throw new Error(`no "${msg}" within 10 s`);
          await sleep(25);
        }
      };
      await until('server down (active health check)');
      healthy = true;
      await until('server up (active health check)');
      await sleep(50);
      let toA = 0;
      for (let i = 0; i < 20; i++) if (echoed(await request(`${f.url}/x`)).origin === 'a') toA++;
      assert.ok(toA <= 5, `the recovering server got ${toA} of 20 requests`);
      assert.equal(JSON.parse((await request(`${f.adminUrl}/status`)).text).upstreams.app.servers[0].health, 'up');
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
