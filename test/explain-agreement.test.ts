/**
 * `fulcrum explain` agrees with fulcrum: a set of requests goes both through explain (from the
 * config file, as the CLI does, and through the running primary's GET /explain) and through a
 * live fulcrum with one worker, and the route (the access log names it), the upstream, the server
 * (the echo origin that answered), the cache key and the head the server got must be the ones
 * explain named. Policies that are deterministic given their state: round-robin from a fresh
 * position (explain's `next` is the worker's sequence), hash, ip-hash (clients on 127.0.0.2-9),
 * sticky cookies; hosts exact, wildcard (two, nested) and `*`, with overlapping prefixes and a
 * path that only its normalised form routes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Explanation, HeadStep, RouteStep } from '../src/explain/explanation.js';
import { explainConfigFile } from '../src/explain/from-config.js';
import type { ExplainInput } from '../src/explain/request.js';
import { createOrigin, echoHandler, type Origin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { until } from './helpers/wait.js';

interface Sent {
  status: number;
  /** the origin that answered (its label) */
  origin: string | null;
  setCookie: string | undefined;
  /** the head the origin received, [name, value] in order */
  head: [string, string][];
}

/** send makes one request to fulcrum from `client` (a loopback address) with exactly these fields. */
function send(f: Fulcrum, method: string, target: string, fields: [string, string][], client = '127.0.0.1'): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: f.port, method, path: target, localAddress: client, agent: false, setHost: false, headers: fields.flat() },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          let echo: { origin?: string; rawHeaders?: string[] } = {};
          try {
            echo = JSON.parse(body);
          } catch {}
          const raw = echo.rawHeaders ?? [];
          const head: [string, string][] = [];
          for (let i = 0; i < raw.length; i += 2) head.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
          const sc = res.headers['set-cookie'];
          resolve({ status: res.statusCode!, origin: echo.origin ?? null, setCookie: sc?.[0], head });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.end();
  });
}

describe('explain agrees with a live fulcrum', () => {
  const origins: Record<string, Origin> = {};
  let f: Fulcrum;
  let accessLog: string;
  const label = (id: string) => Object.values(origins).find((o) => `127.0.0.1_${o.port}` === id)?.label;

  before(async () => {
    for (const l of ['rr1', 'rr2', 'rr3', 'h1', 'h2', 'h3', 'ip1', 'ip2', 'ip3', 'st1', 'st2']) origins[l] = await createOrigin(l);
    origins.c1 = await createOrigin('c1', (req, res, o) => {
      res.setHeader('cache-control', 'max-age=60');
      echoHandler(req, res, o);
    });
    const servers = (...ls: string[]) => ls.map((l, i) => ({ url: origins[l]!.url, weight: i === 1 ? 2 : 1 }));
    accessLog = path.join(mkdtempSync(path.join(os.tmpdir(), 'fulcrum-explain-')), 'access.log');
    f = await startFulcrum({
      workers: 1,
      logging: { level: 'info', access: accessLog, format: 'json' },
      upstreams: {
        rr: { balance: 'round-robin', servers: servers('rr1', 'rr2', 'rr3') },
        hash: { balance: 'hash', hashKey: { header: 'x-user' }, servers: servers('h1', 'h2', 'h3') },
        iph: { balance: 'ip-hash', servers: servers('ip1', 'ip2', 'ip3') },
        sticky: { balance: 'round-robin', servers: servers('st1', 'st2'), sticky: { mode: 'cookie', cookieName: 'fulcrum_sid', ttlSeconds: 600 } },
        cached: { balance: 'round-robin', servers: servers('c1') },
      },
      routes: [
        { name: 'shop-api', host: 'shop.example.com', pathPrefix: '/api/', upstream: 'hash' },
        { name: 'shop-admin', host: 'shop.example.com', pathPrefix: '/api/admin/', upstream: 'iph' },
        { name: 'example', host: '*.example.com', pathPrefix: '/', upstream: 'rr' },
        { name: 'eu-api', host: '*.eu.example.com', pathPrefix: '/api/', upstream: 'iph' },
        { name: 'any', host: '*', pathPrefix: '/', upstream: 'rr' },
        { name: 'static', host: '*', pathPrefix: '/static/', upstream: 'cached', cache: true },
        { name: 'app', host: '*', pathPrefix: '/app/', upstream: 'sticky' },
      ],
    });
  });
  after(async () => {
    await f?.stop();
    for (const o of Object.values(origins)) await o.close();
  });

  /** both explanations of one request: from the config file and from the running primary */
  async function explainBoth(method: string, target: string, fields: [string, string][], client = '127.0.0.1'): Promise<[Explanation, Explanation]> {
    const host = fields.find(([n]) => n.toLowerCase() === 'host')![1];
    const input: ExplainInput = {
      method,
      url: `http://${host}${target}`,
      headers: fields.filter(([n]) => n.toLowerCase() !== 'host').map(([n, v]) => `${n}: ${v}`),
      client,
    };
    const fromFile = explainConfigFile(f.configFile, 'config.json', input);
    assert.ok(typeof fromFile !== 'string', String(fromFile));
    const q = new URLSearchParams({ method, url: input.url, client });
    for (const h of input.headers) q.append('header', h);
    const r = await fetch(`${f.adminUrl}/explain?${q}`);
    assert.equal(r.status, 200);
    return [fromFile, (await r.json()) as Explanation];
  }

  /** the access log's line for a request (by its unique target) */
  async function logged(target: string): Promise<{ route: string; upstream: string; server: string | null }> {
    let line: { route: string; upstream: string; server: string | null } | undefined;
    await until(() => {
      const lines = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean);
      line = lines.map((l) => JSON.parse(l)).find((l: { path: string }) => l.path === target);
      return line !== undefined;
    }, `access log line for ${target}`);
    return line!;
  }

  /** one request through explain (both ways) and fulcrum: the same route, upstream, server and head */
  async function agree(method: string, target: string, fields: [string, string][], client = '127.0.0.1', want?: { route: string; rotated?: boolean }) {
    const both = await explainBoth(method, target, fields, client);
    const sent = await send(f, method, target, fields, client);
    const log = await logged(target);
    for (const e of both) {
      const o = e.outcome;
      assert.equal(o.action, 'forward', `${e.source}: ${target}: ${o.reason}`);
      if (want) assert.equal(o.route?.name, want.route, `${e.source}: route of ${fields[0]![1]}${target}`);
      assert.equal(o.route?.name, log.route, `${e.source}: route of ${target}`);
      assert.equal(o.upstream, log.upstream, `${e.source}: upstream of ${target}`);
      // upstream rr has turned since it was fresh (the first test): explain starts from a fresh position
      if (want?.rotated !== true) assert.equal(o.server, log.server, `${e.source}: server of ${target}`);
      assert.equal(label(log.server!), sent.origin, `the origin that answered ${target}`);
      // the head the server got, field for field (the request line aside, which node does not give)
      const head = (e.steps.find((s) => s.name === 'head') as HeadStep).head!;
      const fieldsSent = head
        .split('\r\n')
        .slice(1)
        .filter(Boolean)
        .map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
      assert.deepEqual(
        sent.head.filter(([n]) => n !== 'connection'),
        fieldsSent.filter(([n]) => n !== 'connection'),
        `${e.source}: head of ${target}`,
      );
    }
    return { explained: both[0], sent };
  }

  it("round-robin from a known position: the picks explain lists are the worker's, in order, across exact, wildcard and * routes", async () => {
    // nothing has been sent to upstream rr yet: the worker's position is explain's fresh one
    const [e] = await explainBoth('GET', '/rr-0', [['Host', 'www.example.com']]);
    const bal = e.steps.find((s) => s.name === 'balancing');
    assert.ok(bal?.name === 'balancing' && bal.next !== null);
    assert.equal(bal.next.length, 6);
    // weights 1:2:1, smooth: rr2 twice in four
    assert.equal(bal.next.filter((id) => label(id) === 'rr2').length, 3);
    const hosts = ['www.example.com', 'other.org', 'shop.example.com', 'a.eu.example.com', 'localhost', 'WWW.Example.COM.'];
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const target = `/rr-${i}`;
      const r = await send(f, 'GET', target, [['Host', hosts[i]!]]);
      const log = await logged(target);
      assert.equal(log.upstream, 'rr', `${hosts[i]}${target}`);
      got.push(log.server!);
      assert.equal(label(log.server!), r.origin);
    }
    assert.deepEqual(got, bal.next);
  });

  it('hash: each x-user goes where explain says, on the exact host; the longer overlapping prefix wins', async () => {
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) {
      const { explained } = await agree(
        'GET',
        `/api/users/${user}`,
        [
          ['Host', 'shop.example.com'],
          ['X-User', user],
        ],
        '127.0.0.1',
        { route: 'shop-api' },
      );
      const route = explained.steps.find((s) => s.name === 'route') as RouteStep;
      assert.deepEqual(
        route.candidates.map((c) => [c.route.name, c.why]),
        [
          ['shop-admin', 'prefix does not match'],
          ['shop-api', 'chosen: the longest matching prefix'],
          ['example', 'not tried: a more specific host class matched first'],
          ['static', 'not tried: a more specific host class matched first'],
          ['app', 'not tried: a more specific host class matched first'],
          ['any', 'not tried: a more specific host class matched first'],
        ],
      );
    }
  });

  it('ip-hash: each client address goes where explain says, by exact and nested wildcard hosts', async () => {
    for (let n = 2; n <= 9; n++) {
      const client = `127.0.0.${n}`;
      await agree('GET', `/api/admin/c${n}`, [['Host', 'shop.example.com']], client, { route: 'shop-admin' });
      await agree(
        'POST',
        `/api/eu/c${n}`,
        [
          ['Host', 'x.eu.example.com'],
          ['Content-Length', '0'],
        ],
        client,
        { route: 'eu-api' },
      );
    }
  });

  it('routes: wildcards longest suffix first, a prefix miss falls to the next class, paths routed normalised', async () => {
    // *.eu.example.com has only /api/: the next wildcard takes /x; an exact host without the
    // prefix falls through to the wildcard; ".." only routes in its normalised form
    await agree('GET', '/x-eu', [['Host', 'b.eu.example.com']], '127.0.0.1', { route: 'example', rotated: true });
    await agree('GET', '/nothing-here', [['Host', 'shop.example.com']], '127.0.0.1', { route: 'example', rotated: true });
    await agree('GET', '/app/../api/admin/dots', [['Host', 'shop.example.com']], '127.0.0.3', { route: 'shop-admin' });
    await agree('GET', '/app/%2e%2e/static/n.css', [['Host', 'elsewhere.test']], '127.0.0.1', { route: 'static' });
  });

  it('sticky cookies: a new session where the policy picks, then its cookie goes where explain says (its hint, then the table)', async () => {
    const first = await agree('GET', '/app/first', [['Host', 'app.test']], '127.0.0.1', { route: 'app' });
    const sticky = first.explained.steps.find((s) => s.name === 'balancing');
    assert.equal(sticky?.name === 'balancing' && sticky.sticky?.found, 'new');
    const cookie = /^fulcrum_sid=([^;]+)/.exec(first.sent.setCookie ?? '')?.[1];
    assert.ok(cookie, `a session cookie: ${first.sent.setCookie}`);
    for (let i = 0; i < 3; i++) {
      const { explained } = await agree(
        'GET',
        `/app/again-${i}`,
        [
          ['Host', 'app.test'],
          ['Cookie', `fulcrum_sid=${cookie}`],
        ],
        '127.0.0.1',
        { route: 'app' },
      );
      assert.equal(explained.outcome.server, first.explained.outcome.server);
    }
    // the primary learns the session from the worker's report: --live then finds it in the table
    await until(async () => {
      const [, live] = await explainBoth('GET', '/app/later', [
        ['Host', 'app.test'],
        ['Cookie', `fulcrum_sid=${cookie}`],
      ]);
      const b = live.steps.find((s) => s.name === 'balancing');
      return b?.name === 'balancing' && b.sticky?.found === 'kept' && live.outcome.server === first.explained.outcome.server;
    }, "the session in the primary's table");
  });

  it('cache: the key explain names is the one the cache stores under (--live finds it; a purge by it drops it)', async () => {
    const target = '/static/app.css?v=1';
    const { explained } = await agree('GET', target, [['Host', 'cdn.example.org']], '127.0.0.1', { route: 'static' });
    assert.equal(explained.outcome.cacheKey, 'cdn.example.org/static/app.css?v=1');
    const hits = origins.c1!.hits;
    await until(async () => {
      const [, live] = await explainBoth('GET', target, [['Host', 'cdn.example.org']]);
      return live.outcome.action === 'cache' && live.outcome.cacheKey === explained.outcome.cacheKey;
    }, 'explain --live: answered from the cache');
    // and the worker does answer it from the cache
    const again = await send(f, 'GET', target, [['Host', 'cdn.example.org']]);
    assert.equal(again.status, 200);
    assert.equal(origins.c1!.hits, hits);
    const purge = await fetch(`${f.adminUrl}/cache/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://${explained.outcome.cacheKey}` }),
    });
    assert.equal(((await purge.json()) as { dropped: number }).dropped, 1);
  });
});
