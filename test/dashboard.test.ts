/**
 * The dashboard: the page and its event stream over plain HTTP, then the page in a real browser
 * (Debian's Chromium driven by playwright-core) against a running fulcrum with real backends.
 * The browser test skips, saying why, when /usr/bin/chromium is missing (scripts/ensure-test-deps.sh
 * installs it before `npm test`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createOrigin, type Handler } from './helpers/origin.js';
import { ROOT, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { type Chromium, chromiumSkip, launchChromium } from './helpers/chromium.js';

const TOKEN = 'dashboard-test-token-0123456789';

/** firstEvent reads the first SSE data frame of url. */
function firstEvent(url: string): Promise<{ status: number; type: string; data: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        const m = /(?:^|\n)data: (.*)\n\n/.exec(buf);
        if (m) {
          resolve({ status: res.statusCode!, type: String(res.headers['content-type']), data: JSON.parse(m[1]!) });
          req.destroy();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), data: buf }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no event in time')));
  });
}

describe('dashboard', () => {
  it('serves a self-contained page and a live event stream, behind the admin token', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      admin: { token: TOKEN },
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    try {
      assert.equal((await request(`${f.adminUrl}/`)).status, 401);
      const page = await request(`${f.adminUrl}/?token=${TOKEN}`);
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.text, /<title>fulcrum<\/title>/);
      // before the script runs, the stream's dot says it is connecting (not a green "live")
      assert.match(page.text, /<span id="conn" class="connecting" data-state="connecting">connecting…<\/span>/);
      assert.doesNotMatch(page.text, /(src|href)=["']https?:/, 'nothing is loaded from elsewhere');
      assert.equal((await request(`${f.url}/`)).status, 200);
      const ev = await firstEvent(`${f.adminUrl}/events?token=${TOKEN}`);
      assert.equal(ev.status, 200);
      assert.equal(ev.type, 'text/event-stream');
      const st = ev.data as { upstreams: Record<string, unknown>; workers: unknown[]; buckets: number[] };
      assert.ok(st.upstreams.app);
      assert.equal(st.workers.length, 1);
      assert.ok(st.buckets.length > 5);
      assert.equal((await firstEvent(`${f.adminUrl}/events`)).status, 401);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('shows every server state with a legend, every transition, the stream state, a latency chart and health check lines', {
    skip: chromiumSkip,
    timeout: 90_000,
  }, async () => {
    // a: healthy; b: killed (active checks: down); c: answers its health check but fails real
    // requests with 502 (passive checks: ejected, back, ejected again); d: drained from the page
    const failing: Handler = (req, res) => {
      res.statusCode = req.url === '/healthz' ? 200 : 502;
      res.end(req.url === '/healthz' ? 'ok' : 'bad gateway');
    };
    const [a, b, c, d] = await Promise.all([createOrigin('a'), createOrigin('b'), createOrigin('c', failing), createOrigin('d')]);
    const id = (o: { port: number }) => `127.0.0.1_${o.port}`;
    const f = await startFulcrum({
      workers: 1,
      admin: { token: TOKEN },
      upstreams: {
        app: {
          balance: 'round-robin',
          servers: [a, b, c, d].map((o) => ({ url: o.url })),
          healthCheck: { path: '/healthz', intervalMs: 200, timeoutMs: 150, rise: 1, fall: 2 },
          passiveHealth: { maxFails: 3, failWindowMs: 10000, ejectMs: 1500, maxEjectMs: 3000, failStatuses: [502] },
        },
      },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    let browser: Chromium | null = null;
    // traffic for the page to show: bounded in time and count
    let traffic = true;
    const load = (async () => {
      const end = Date.now() + 75_000;
      for (let i = 0; traffic && i < 20_000 && Date.now() < end; i++) {
        await request(`${f.url}/t${i}`).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let stopped = false;
    try {
      browser = await launchChromium(['--disable-quic'], { viewport: { width: 1400, height: 800 } });
      const page = await browser.newPage();
      // hold the event stream: before its first frame the dot says "connecting"
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route('**/events*', async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(`${f.adminUrl}/?token=${TOKEN}`);
      assert.equal(await page.locator('#conn').getAttribute('data-state'), 'connecting');
      release();
      await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });

      // the legend: every state with its meaning
      const legend = await page.locator('#legend dt').allTextContents();
      assert.deepEqual(legend, ['up', 'down', 'ejected', 'drained', 'unknown']);
      for (const meaning of await page.locator('#legend dd').allTextContents()) assert.ok(meaning.length > 20, meaning);

      const health = (o: { port: number }, want: string, timeout = 15_000) =>
        page.waitForFunction(([sid, w]) => document.querySelector(`tr[data-server="${sid}"]`)?.getAttribute('data-health') === w, [id(o), want], {
          timeout,
        });
      // c is ejected by passive checks (not a grey "idle"), and its recovery is listed too
      // the row says ejected and shows the ejected badge, checked in one look (c comes back after ejectMs)
      await page.waitForFunction(
        (sid) => {
          const row = document.querySelector(`tr[data-server="${sid}"]`);
          return row?.getAttribute('data-health') === 'ejected' && row.querySelectorAll('.state.ejected').length === 1;
        },
        id(c),
        { timeout: 15_000 },
      );
      await page.waitForSelector('#transitions li[data-from="ejected"][data-to="up"]', { timeout: 15_000 });
      assert.ok((await page.locator('#transitions li[data-from="up"][data-to="ejected"]').count()) >= 1);

      // b killed: down by the active checks, its last check failed
      await b.close();
      await health(b, 'down');
      // b may be ejected by passive checks (refused connections) before the active checks call it down,
      // so its transition to down can come from "up" or "ejected"
      await page.waitForSelector(`#transitions li[data-server="${id(b)}"][data-to="down"]`, { timeout: 10_000 });
      assert.match((await page.locator(`tr[data-server="${id(b)}"] .check`).textContent()) ?? '', /failed \(.+\) in \d+ ms/);
      assert.match(
        (await page.locator(`tr[data-server="${id(a)}"] .check`).textContent()) ?? '',
        /^last health check \d{1,2}:\d{2}:\d{2}.*: passed \(status 200\) in \d+ ms$/,
      );

      // d drained from the page: its state says so, its health stays up
      await page.locator(`tr[data-server="${id(d)}"] button.drain`).click();
      await page.waitForSelector(`tr[data-server="${id(d)}"][data-state="drained"][data-health="up"]`, { timeout: 10_000 });

      // the latency chart: bars, both axes with their units
      const chart = page.locator('.latency-chart');
      await page.waitForFunction(() => document.querySelectorAll('.latency-chart .bar').length > 0, undefined, { timeout: 10_000 });
      const labels = await chart.locator('text').allTextContents();
      for (const want of ['1ms', '250ms', '1s', '60s', '>60s', 'requests (last 10 s)', 'latency, upper bound of each bucket (ms, s)', '0'])
        assert.ok(labels.includes(want), `axis label ${want} in ${labels.join(' | ')}`);

      // all four states at once, for the screenshot
      await page.waitForFunction(
        (ids) =>
          ids.every(([sid, w]) => {
            const row = document.querySelector(`tr[data-server="${sid}"]`);
            return row?.getAttribute('data-state') === w;
          }),
        [
          [id(a), 'up'],
          [id(b), 'down'],
          [id(c), 'ejected'],
          [id(d), 'drained'],
        ],
        { timeout: 15_000 },
      );
      const out = path.join(ROOT, 'test-output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
      assert.ok(existsSync(path.join(out, 'dashboard.png')));

      // the stream ends with fulcrum: the dot turns to lost
      traffic = false;
      await load;
      await f.stop();
      stopped = true;
      await page.waitForSelector('#conn[data-state="lost"]', { timeout: 10_000 });
    } finally {
      traffic = false;
      await load;
      await browser?.close();
      if (!stopped) await f.stop();
      await Promise.all([a, b, c, d].map((o) => o.close()));
    }
  });
});
