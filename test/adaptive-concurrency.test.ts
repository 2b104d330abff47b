/**
 * Adaptive concurrency (upstreams.<name>.adaptiveConcurrency): a limit on requests in flight per
 * server that follows the measured latency, cluster-wide, with the requests over it waiting in the
 * upstream's queue (503 with Retry-After when the wait times out or the queue is full). The short
 * version of scripts/adaptive-concurrency.ts, with loose bounds: a backend that serves 8 requests
 * at a time and queues the rest gets 64 clients; with the limit its latency stays near its own,
 * without it the backend's queue makes it several times slower; its capacity halved, the limit
 * follows. The limit shows in /status, /metrics and the dashboard.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createOrigin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { request, type Reply } from './helpers/client.js';
import { sleep, status, until } from './helpers/wait.js';
import { spawnPooledOrigin, type PooledOrigin } from './helpers/pooled-origin.js';
import { chromiumSkip, launchChromium } from './helpers/chromium.js';

const SERVICE_MS = 50;
const CAPACITY = 8;
const CLIENTS = 64;

interface Concurrency {
  limit: number;
  minLatencyMs: number;
  latencyMs: number;
  measuring: boolean;
}

async function concurrencyOf(f: Fulcrum): Promise<Concurrency | undefined> {
  return (await status(f)).upstreams.app.servers[0].concurrency;
}

/** load keeps CLIENTS closed-loop clients busy until stopped; counts responses by status. */
function load(f: Fulcrum): { stop(): Promise<void>; counts: Map<number, number> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const counts = new Map<number, number>();
  let stopped = false;
  const get = () =>
    new Promise<void>((resolve) => {
      http
        .get(`${f.url}/`, { agent }, (res) => {
          counts.set(res.statusCode!, (counts.get(res.statusCode!) ?? 0) + 1);
          res.resume().on('end', resolve);
        })
        .on('error', () => resolve());
    });
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (!stopped) await get();
  });
  return {
    counts,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** window measures the backend for ms: its p99 latency (arrival to response) and requests per second. */
async function window(backend: PooledOrigin, ms: number): Promise<{ p99: number; rps: number }> {
  await backend.take();
  await sleep(ms);
  const { latencies } = await backend.take();
  latencies.sort((a, b) => a - b);
  return { p99: latencies[Math.ceil(latencies.length * 0.99) - 1] ?? 0, rps: (latencies.length * 1000) / ms };
}

describe('adaptive concurrency', () => {
  it('keeps a saturated backend near its own latency at full throughput, and follows its capacity when it halves', { timeout: 90_000 }, async () => {
    const backend = await spawnPooledOrigin(CAPACITY, SERVICE_MS);
    const start = (adaptive: boolean) =>
      startFulcrum({
        workers: 2,
        upstreams: {
          app: {
            servers: [{ url: backend.url }],
            queueSize: CLIENTS,
            ...(adaptive ? { adaptiveConcurrency: { minLatencyRequests: 20 } } : {}),
          },
        },
        routes: [{ upstream: 'app' }],
      });
    const nominal = (CAPACITY * 1000) / SERVICE_MS;
    try {
      // without the limit, all 64 wait inside the backend: 64 / 8 x 50 ms = 400 ms each
      const off = await start(false);
      const offLoad = load(off);
      let unlimited: { p99: number; rps: number };
      try {
        await sleep(1000);
        unlimited = await window(backend, 2000);
      } finally {
        await offLoad.stop();
        await off.stop();
      }

      const f = await start(true);
      const l = load(f);
      try {
        // the minimum latency is measured first (the limit held at minLimit), then the limit grows
        await until(async () => ((await concurrencyOf(f))?.limit ?? 0) > CAPACITY, 'the limit to grow past the capacity', 15_000, 100);
        await sleep(1000);
        const limited = await window(backend, 3000);
        const before = (await concurrencyOf(f))!;
        assert.ok(before.minLatencyMs >= SERVICE_MS, `minimum latency ${before.minLatencyMs} ms`);
        assert.ok(limited.p99 <= 5 * SERVICE_MS, `p99 with the limit ${limited.p99.toFixed(0)} ms (without: ${unlimited.p99.toFixed(0)} ms)`);
        assert.ok(unlimited.p99 >= 2 * limited.p99, `p99 without the limit ${unlimited.p99.toFixed(0)} ms, with ${limited.p99.toFixed(0)} ms`);
        assert.ok(limited.rps >= 0.6 * nominal, `${limited.rps.toFixed(0)} req/s with the limit (backend's maximum ${nominal})`);
        assert.ok(before.limit < CLIENTS / 2, `limit ${before.limit}`);

        backend.setCapacity(CAPACITY / 2);
        const halvedAt = Date.now();
        await until(
          async () => ((await concurrencyOf(f))?.limit ?? Infinity) <= before.limit * 0.75,
          `the limit (${before.limit}) to follow the halved capacity`,
          6000,
          100,
        );
        const followedMs = Date.now() - halvedAt;
        assert.ok(followedMs < 6000);
        assert.equal(l.counts.get(503) ?? 0, 0, 'no request waited longer than queueTimeoutMs');
      } finally {
        await l.stop();
        await f.stop();
      }
    } finally {
      await backend.close();
    }
  });

  it('queues requests over the limit, 503 with Retry-After when the wait times out or the queue is full; /status, /metrics and the dashboard show the limit', {
    timeout: 60_000,
  }, async () => {
    const held: http.ServerResponse[] = [];
    const a = await createOrigin('a', (_req, res) => held.push(res));
    // minLimit = maxLimit: the limit is 2 whatever the latency
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: a.url }], queueSize: 1, queueTimeoutMs: 500, adaptiveConcurrency: { minLimit: 2, maxLimit: 2 } } },
      routes: [{ upstream: 'app' }],
    });
    const replies: Promise<Reply>[] = [];
    try {
      await until(async () => (await concurrencyOf(f))?.limit === 2, 'the limit in /status');
      for (let i = 1; i <= 3; i++) {
        replies.push(request(`${f.url}/r${i}`));
        await sleep(80);
      }
      assert.equal(a.hits, 2, 'two in flight, the third waits in the queue');
      const full = await request(`${f.url}/r4`);
      assert.equal(full.status, 503, 'the queue (size 1) is full');
      assert.equal(full.headers['retry-after'], '1');
      const timedOut = await replies[2]!;
      assert.equal(timedOut.status, 503, 'queueTimeoutMs');
      assert.equal(timedOut.headers['retry-after'], '1');
      assert.equal(a.hits, 2);

      const metrics = (await request(`${f.adminUrl}/metrics`)).text;
      assert.match(metrics, new RegExp(`^fulcrum_upstream_concurrency_limit\\{upstream="app",server="127\\.0\\.0\\.1_${a.port}"\\} 2$`, 'm'));
    } finally {
      for (const r of held) r.end('done');
      await Promise.all(replies);
      await f.stop();
      await a.close();
    }
  });

  it("the dashboard shows each server's limit in a section of its own", {
    skip: chromiumSkip,
    timeout: 60_000,
  }, async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: a.url }], adaptiveConcurrency: { minLimit: 2, maxLimit: 2 } }, plain: { servers: [{ url: a.url }] } },
      routes: [{ upstream: 'app' }],
    });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${f.adminUrl}/`);
      const server = `127.0.0.1_${a.port}`;
      await page.waitForFunction(
        (id) => document.querySelector(`#concurrency tr[data-upstream="app"][data-server="${id}"] .limit`)?.textContent === '2',
        server,
        {
          timeout: 15_000,
        },
      );
      assert.equal(await page.locator('#concurrency').isVisible(), true);
      assert.equal(await page.locator('#concurrency tr[data-upstream="plain"]').count(), 0, 'an upstream without the limit has no row');
    } finally {
      await browser.close();
      await f.stop();
      await a.close();
    }
  });
});
