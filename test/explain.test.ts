/**
 * `fulcrum explain` as an operator meets it: the nine steps on the README's example config (and
 * the README shows exactly that output), --json, what the request meets first when it is refused,
 * usage and input errors, --live against a running fulcrum (its drained server, its token), GET
 * /explain under the admin API's rules, and the dashboard's form in a real browser (Debian's
 * Chromium, skipped with the reason when it is missing). Agreement with a live fulcrum, request by
 * request, is explain-agreement.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BalancingStep, Explanation } from '../src/explain/explanation.js';
import { explainConfigFile } from '../src/explain/from-config.js';
import { ROOT, runCli, startFulcrum } from './helpers/fulcrum.js';
import { createOrigin } from './helpers/origin.js';
import { adminCall, request } from './helpers/client.js';
import { type Chromium, chromiumSkip, launchChromium } from './helpers/chromium.js';

const EXAMPLE = path.join(ROOT, 'docs', 'explain-example.json');
const TOKEN = 'explain-test-token-0123456789';
const STEPS = ['path', 'access', 'limits', 'route', 'rate-limit', 'cache', 'compression', 'balancing', 'head'];
/** the README's command (its section "Explaining a request") */
const README_ARGS = [
  'explain',
  '-c',
  'docs/explain-example.json',
  'GET',
  'http://shop.example.com/api/users',
  '-H',
  'Cookie: fulcrum_sid=Zk3mQ9vT2xLc8bN1pR4wYa.0012j9dpa',
  '-H',
  'Accept-Encoding: gzip, br',
  '--client',
  '203.0.113.7',
];

function fromExample(method: string, url: string, headers: string[] = [], client = '203.0.113.7'): Explanation {
  const e = explainConfigFile(EXAMPLE, 'docs/explain-example.json', { method, url, headers, client });
  assert.ok(typeof e !== 'string', String(e));
  return e;
}

describe('fulcrum explain from the config', () => {
  it('prints the nine steps, one line each, the winners marked, and the README shows this very output', async () => {
    const r = await runCli(README_ARGS);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.equal(lines[1], '=> forwarded to 10.0.0.12_8000 (route "shop-api", upstream app)');
    const steps = lines.filter((l) => /^ ?\d /.test(l)).map((l) => l.trim().split(/\s+/).slice(0, 2));
    assert.deepEqual(
      steps,
      STEPS.map((s, i) => [String(i + 1), s]),
    );
    // the chosen route and server marked, the others not
    assert.ok(lines.some((l) => /^\s+> exact\s+shop\.example\.com\s+\/api\/\s/.test(l)));
    assert.ok(lines.some((l) => /^\s+> 10\.0\.0\.12_8000 /.test(l)));
    assert.equal(lines.filter((l) => /^\s+> /.test(l)).length, 2);
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const shown = `$ fulcrum ${README_ARGS.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}\n${r.stdout}`;
    assert.ok(readme.includes(shown), `README's example output is not what explain prints now:\n${shown}`);
  });

  it('--json is the same explanation as a document', async () => {
    const r = await runCli([...README_ARGS, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout) as Explanation;
    assert.equal(e.version, 1);
    assert.equal(e.source, 'config');
    assert.deepEqual(
      e.steps.map((s) => s.name),
      STEPS,
    );
    assert.equal(e.outcome.action, 'forward');
    assert.equal(e.outcome.server, '10.0.0.12_8000');
    assert.equal(e.outcome.route?.name, 'shop-api');
    assert.equal(e.outcome.cacheKey, null);
    const bal = e.steps[7] as BalancingStep;
    assert.deepEqual(bal.sticky, { mode: 'cookie', key: 'Zk3mQ9vT2xLc8bN1pR4wYa.0012j9dpa', found: 'hint', cookieName: 'fulcrum_sid' });
    assert.deepEqual(
      bal.servers.map((s) => [s.id, s.candidate, s.picked]),
      [
        ['10.0.0.11_8000', false, false],
        ['10.0.0.12_8000', true, true],
        ['10.0.0.13_8000', false, false],
      ],
    );
  });

  it('names the check that answers first, and marks the later steps not reached', () => {
    const cases: [Explanation, string, number | null, string][] = [
      [fromExample('GET', 'http://shop.example.com/', [], '198.51.100.9'), 'refuse', 403, 'access'],
      [fromExample('GET', 'http://shop.example.com/api/admin/users'), 'refuse', 403, 'access'],
      [fromExample('GET', 'http://shop.example.com/api/admin/users', [], '10.1.2.3'), 'forward', null, 'balancing'],
      [fromExample('POST', 'http://x.test/upload', ['Content-Length: 99999999999']), 'refuse', 413, 'limits'],
      [fromExample('GET', `http://x.test/${'a'.repeat(9000)}`), 'refuse', 414, 'limits'],
      [fromExample('GET', 'http://x.test/a#frag'), 'refuse', 400, 'limits'],
    ];
    for (const [e, action, status, step] of cases) {
      assert.equal(e.outcome.action, action, `${e.request.target.slice(0, 40)}: ${e.outcome.reason}`);
      assert.equal(e.outcome.status, status, e.outcome.reason);
      if (action !== 'forward') {
        assert.equal(e.outcome.step, step, e.outcome.reason);
        assert.equal(e.steps.filter((s) => s.decides).length, 1);
        // Content-Length is compared once the head is built (ProxyRequest.start): the rest before it
        if (status !== 413) assert.equal(e.steps.find((s) => s.name === 'head')!.reached, false, 'nothing is sent upstream');
      }
    }
    // the route access list: the route is found first, the rate limit is never reached
    const admin = cases[1]![0];
    assert.equal(admin.outcome.route?.name, 'shop-admin');
    assert.equal(admin.steps.find((s) => s.name === 'rate-limit')!.reached, false);
    // the static route caches: its key, and a random policy's odds are not claimed for round-robin
    const css = fromExample('GET', 'http://cdn.example.org/static/app.css?v=3');
    assert.equal(css.outcome.cacheKey, 'cdn.example.org/static/app.css?v=3');
    assert.equal((css.steps[7] as BalancingStep).random, null);
  });

  it('refuses bad input: usage errors exit 2, a request or config it cannot explain exits 1', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-explain-'));
    try {
      const bad = path.join(dir, 'bad.json');
      writeFileSync(bad, '{"routes": 1}');
      const [none, stray, admin, url, client, config] = await Promise.all([
        runCli(['explain', '-c', EXAMPLE]),
        runCli(['explain', '-c', EXAMPLE, 'GET', 'http://a/', 'extra']),
        runCli(['explain', '-c', EXAMPLE, '--admin', 'http://127.0.0.1:9', 'GET', 'http://a/']),
        runCli(['explain', '-c', EXAMPLE, 'GET', 'ftp://a/']),
        runCli(['explain', '-c', EXAMPLE, '--client', '127.1', 'GET', 'http://a/']),
        runCli(['explain', '-c', bad, 'GET', 'http://a/']),
      ]);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /give METHOD and URL/);
      assert.match(none.stderr, /usage: fulcrum explain/);
      assert.equal(stray.code, 2);
      assert.equal(admin.code, 2);
      assert.match(admin.stderr, /--admin needs --live/);
      assert.equal(url.code, 1);
      assert.match(url.stderr, /only http and https/);
      assert.equal(client.code, 1);
      assert.match(client.stderr, /not an IPv4 or IPv6 address/);
      assert.equal(config.code, 1);
      assert.match(config.stderr, /invalid config/);
      for (const r of [none, stray, admin, url, client, config]) assert.equal(r.stdout, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fulcrum explain --live and GET /explain', () => {
  it("asks the running fulcrum (a drained server is left out) under the admin API's token and Host rules", async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const f = await startFulcrum({
      workers: 1,
      admin: { token: TOKEN },
      upstreams: { app: { balance: 'round-robin', servers: [{ url: a.url }, { url: b.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const idA = `127.0.0.1_${a.port}`;
    const idB = `127.0.0.1_${b.port}`;
    try {
      const q = '/explain?method=GET&url=http://shop.example.com/x&header=Accept-Encoding:%20gzip';
      assert.equal((await request(`${f.adminUrl}${q}`)).status, 401);
      assert.equal((await request(`${f.adminUrl}${q}&token=${TOKEN}`)).status, 401, 'no token in the URL');
      assert.equal((await request(`${f.adminUrl}${q}`, { headers: { ...auth, host: 'evil.example' } })).status, 403);
      const missing = await request(`${f.adminUrl}/explain?method=GET`, { headers: auth });
      assert.equal(missing.status, 400);
      assert.match(JSON.parse(missing.text).error, /no url/);
      assert.equal((await request(`${f.adminUrl}/explain?url=http://a/&bogus=1`, { headers: auth })).status, 400);
      const ok = await request(`${f.adminUrl}${q}`, { headers: auth });
      assert.equal(ok.status, 200);
      const e = JSON.parse(ok.text) as Explanation;
      assert.equal(e.source, 'live');
      assert.equal(e.outcome.action, 'forward');
      assert.equal((e.steps[6] as { encoding: string | null }).encoding, 'gzip');

      // drained on the running fulcrum: --live leaves it out, the config alone cannot know
      assert.equal((await adminCall(f.adminUrl, 'POST', `/upstreams/app/servers/${idA}/drain`, undefined, auth)).status, 200);
      const live = await runCli(['explain', '--live', '-c', f.configFile, 'GET', 'http://shop.example.com/x']);
      assert.equal(live.code, 0, live.stderr);
      assert.match(live.stdout, /^GET http:\/\/shop\.example\.com\/x {2}from 127\.0\.0\.1 {2}\(live: generation \d+\)\n=> forwarded to /);
      assert.match(live.stdout, new RegExp(`\\n\\s+> ${idB} `));
      assert.match(live.stdout, new RegExp(`\\n\\s+ ${idA} .*drained`));
      const json = JSON.parse((await runCli(['explain', '--live', '--json', '-c', f.configFile, 'GET', 'http://shop.example.com/x'])).stdout) as Explanation;
      assert.equal(json.outcome.server, idB);
      assert.equal((json.steps[7] as BalancingStep).servers.find((s) => s.id === idA)?.state, 'drained');
      // a wrong token: exit 1 with the admin API's answer
      const wrong = await runCli(['explain', '--live', '-c', f.configFile, 'GET', 'http://a/'], { FULCRUM_ADMIN_TOKEN: 'wrong-token-wrong-token-wrong' });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /401/);
    } finally {
      await f.stop();
      await a.close();
      await b.close();
    }
  });

  it("the dashboard's form shows the same steps", {
    skip: chromiumSkip,
    timeout: 60_000,
  }, async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      admin: { token: TOKEN },
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    let browser: Chromium | null = null;
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(`${f.adminUrl}/?token=${TOKEN}`);
      await page.fill('#explain-url', 'http://shop.example.com/api/users');
      await page.fill('#explain-headers', 'X-Test: <b>not markup</b>');
      await page.click('#explain-form button[type=submit]');
      await page.waitForSelector('#explain-out[data-state="done"]', { timeout: 10_000 });
      const outcome = await page.locator('#explain-out .outcome').textContent();
      assert.match(outcome ?? '', new RegExp(`forwarded to 127\\.0\\.0\\.1_${a.port}`));
      assert.deepEqual(await page.locator('#explain-out tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-step'))), STEPS);
      assert.equal(await page.locator('#explain-out .line.mark').count(), 2, 'the chosen route and server');
      const head = await page.locator('#explain-out tr[data-step="head"] pre').textContent();
      assert.match(head ?? '', /^GET \/api\/users HTTP\/1\.1\nhost: shop\.example\.com\nx-test: <b>not markup<\/b>\n/);
      assert.equal(await page.locator('#explain-out b').count(), 0, 'values are text, never markup');
      // an error from the API is shown, not swallowed
      await page.fill('#explain-url', 'ftp://nope/');
      await page.click('#explain-form button[type=submit]');
      await page.waitForSelector('#explain-out[data-state="error"]', { timeout: 10_000 });
      assert.match((await page.locator('#explain-out .err').textContent()) ?? '', /400: URL scheme/);
    } finally {
      await browser?.close();
      await f.stop();
      await a.close();
    }
  });
});
