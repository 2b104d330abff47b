/**
 * The dashboard: the page and its event stream over plain HTTP, then the page in a real browser
 * (Debian's Chromium driven by playwright-core) against a running fulcrum with real backends.
 * The browser test skips, saying why, when /usr/bin/chromium is missing (scripts/ensure-test-deps.sh
 * installs it before `npm test`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createOrigin } from './helpers/origin.js';
import { ROOT, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

const CHROMIUM = '/usr/bin/chromium';
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

  it('shows live traffic in Chromium, a killed backend failing, and the drain button', {
    skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh as root)`,
    timeout: 60_000,
  }, async () => {
    const { chromium } = await import('playwright-core');
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const f = await startFulcrum({
      workers: 1,
      admin: { token: TOKEN },
      upstreams: {
        app: {
          balance: 'round-robin',
          servers: [{ url: a.url }, { url: b.url }],
          healthCheck: { path: '/healthz', intervalMs: 200, timeoutMs: 150, rise: 1, fall: 2 },
        },
      },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    // a fresh profile directory (playwright passes it as --user-data-dir)
    const profile = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-chromium-'));
    let browser: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | null = null;
    // traffic for the page to show: bounded in time and count
    let traffic = true;
    const load = (async () => {
      const end = Date.now() + 45_000;
      for (let i = 0; traffic && i < 20_000 && Date.now() < end; i++) {
        await request(`${f.url}/t${i}`).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1400, height: 800 },
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const page = await browser.newPage();
      await page.goto(`${f.adminUrl}/?token=${TOKEN}`);
      const rowA = page.locator(`tr[data-server="127.0.0.1_${a.port}"]`);
      const rowB = page.locator(`tr[data-server="127.0.0.1_${b.port}"]`);
      // live data: requests per second above zero on both servers
      await page.waitForFunction(
        (ids) => ids.every((id) => Number(document.querySelector(`tr[data-server="${id}"] .rps`)?.textContent ?? 0) > 0),
        [`127.0.0.1_${a.port}`, `127.0.0.1_${b.port}`],
        { timeout: 15_000 },
      );
      assert.equal(await page.locator('#conn').textContent(), 'live');
      assert.equal(await rowB.getAttribute('data-state'), 'up');

      // kill backend b: its row turns to down (health checks) or failing (its responses are errors)
      await b.close();
      await page.waitForFunction((id) => document.querySelector(`tr[data-server="${id}"]`)?.getAttribute('data-state') === 'down', `127.0.0.1_${b.port}`, {
        timeout: 15_000,
      });
      // and the transition is listed
      await page.waitForFunction(() => !document.querySelector('#transitions .empty'), undefined, { timeout: 5_000 });

      // drain a: drained when the admin API has drain, else the page shows the API's error
      await rowA.locator('button.drain').click();
      await page.waitForFunction(
        (id) => {
          const row = document.querySelector(`tr[data-server="${id}"]`);
          return row?.getAttribute('data-state') === 'drained' || /drain failed/.test(row?.textContent ?? '');
        },
        `127.0.0.1_${a.port}`,
        { timeout: 10_000 },
      );
      const out = path.join(ROOT, 'test-output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
      assert.ok(existsSync(path.join(out, 'dashboard.png')));
    } finally {
      traffic = false;
      await load;
      await browser?.close();
      rmSync(profile, { recursive: true, force: true });
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
