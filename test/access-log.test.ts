/**
 * The access log: one line per request, JSON or combined, to a file reopened on SIGUSR1; every
 * answer fulcrum makes itself has its line too, with the failure kind as its reason and the
 * request id the client got in X-Request-Id.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOrigin, deadPort } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { UWS_SKIP } from './helpers/uws.js';

/** a catch-all route and a named one that denies loopback clients (403 on both engines, from dispatch) */
const PRIVATE_ROUTES = [
  { host: '*', pathPrefix: '/', upstream: 'app' },
  { name: 'private', host: '*', pathPrefix: '/private/', upstream: 'app', access: { deny: ['127.0.0.0/8', '::1/128'] } },
];

async function waitLines(file: string, n: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let lines: string[] = [];
  while (Date.now() < deadline) {
    lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
  return lines;
}

describe('access log', () => {
  it('writes one JSON line per request and reopens the file on SIGUSR1', async () => {
    const a = await createOrigin('a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
    const file = path.join(dir, 'access.log');
    const f = await startFulcrum(oneUpstream([a.url], { workers: 2, logging: { access: file } }));
    try {
      const r = await request(`${f.url}/p/a%20th?q="1"`, {
        method: 'POST',
        body: 'hello',
        headers: { host: 'shop.example', 'user-agent': 'tester "1"\\', referer: 'http://r.example/' },
      });
      assert.equal(r.status, 200);
      const [line] = await waitLines(file, 1);
      const e = JSON.parse(line!);
      assert.deepEqual(Object.keys(e), [
        'time',
        'requestId',
        'client',
        'method',
        'host',
        'path',
        'protocol',
        'status',
        'reason',
        'bytesIn',
        'bytesOut',
        'route',
        'upstream',
        'server',
        'upstreamMs',
        'totalMs',
        'userAgent',
        'referer',
      ]);
      assert.equal(e.method, 'POST');
      assert.equal(e.host, 'shop.example');
      assert.equal(e.path, '/p/a%20th?q=%221%22');
      assert.equal(e.protocol, 'HTTP/1.1');
      assert.equal(e.status, 200);
      assert.equal(e.reason, null);
      assert.equal(e.client, '127.0.0.1');
      assert.equal(e.bytesIn, 5);
      assert.equal(e.bytesOut, r.body.length);
      assert.equal(e.route, '*/', 'a route without a name is named host + pathPrefix');
      assert.equal(e.upstream, 'app');
      assert.equal(e.server, `127.0.0.1_${a.port}`);
      assert.ok(e.upstreamMs >= 0 && e.totalMs >= e.upstreamMs);
      assert.equal(e.userAgent, 'tester "1"\\');
      assert.equal(e.referer, 'http://r.example/');
      assert.match(e.requestId, /^[0-9a-f]{8}-[0-9a-z]+$/);
      assert.ok(!Number.isNaN(Date.parse(e.time)));

      // logrotate: move the file away, signal, and new lines go to a new file
      renameSync(file, file + '.1');
      f.proc.kill('SIGUSR1');
      // the worker reopens the path for append, which creates it: wait for that (bounded)
      for (const deadline = Date.now() + 5000; !existsSync(file) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      assert.ok(existsSync(file), 'SIGUSR1 reopened the log at its path');
      for (let i = 0; i < 10; i++) assert.equal((await request(`${f.url}/after/${i}`)).status, 200);
      const fresh = await waitLines(file, 10);
      assert.equal(fresh.length, 10);
      assert.ok(fresh.every((l) => JSON.parse(l).path.startsWith('/after/')));
      assert.equal(
        readFileSync(file + '.1', 'utf8')
          .split('\n')
          .filter(Boolean).length,
        1,
      );
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('writes the combined format, with the request id and times appended', async () => {
    const a = await createOrigin('a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
    const file = path.join(dir, 'access.log');
    const f = await startFulcrum(oneUpstream([a.url], { logging: { access: file, format: 'combined' }, routes: PRIVATE_ROUTES }));
    try {
      await request(`${f.url}/c?x=1`, { headers: { 'user-agent': 'tester "1"', referer: 'http://r.example/' } });
      const [line] = await waitLines(file, 1);
      assert.match(
        line!,
        /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/c\?x=1 HTTP\/1\.1" 200 \d+ "http:\/\/r\.example\/" "tester \\x221\\x22" rid=\S+ upstream=app server=127\.0\.0\.1_\d+ urt=\d+\.\d{3} rt=\d+\.\d{3} in=0 route=\*\/ reason=-$/,
      );
      // an edge answer: no upstream, no server, its route and reason
      const r = await request(`${f.url}/private/x`);
      assert.equal(r.status, 403);
      const lines = await waitLines(file, 2);
      assert.match(
        lines[1]!,
        new RegExp(
          `^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET /private/x HTTP/1\\.1" 403 \\d+ "-" "-" rid=${r.headers['x-request-id']} upstream=- server=- urt=- rt=\\d+\\.\\d{3} in=0 route=private reason=access-denied$`,
        ),
      );
    } finally {
      await f.stop();
      await a.close();
    }
  });

  for (const engine of ['fulcrum', 'uws'] as const) {
    it(`gives every answer fulcrum makes itself one line, with its reason, request id and route (${engine} engine)`, {
      skip: engine === 'uws' ? UWS_SKIP : false,
    }, async () => {
      const a = await createOrigin('a');
      const dead = await deadPort();
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
      const file = path.join(dir, 'access.log');
      const f = await startFulcrum({
        workers: 1,
        listen: { engine },
        upstreams: { app: { servers: [{ url: a.url }] }, gone: { servers: [{ url: `http://127.0.0.1:${dead}` }] } },
        routes: [
          { name: 'api', host: '*', pathPrefix: '/api/', upstream: 'app', rateLimit: { ratePerSecond: 0.1, burst: 1 } },
          { host: 'shop.test', pathPrefix: '/', upstream: 'app' },
          { name: 'private', host: 'shop.test', pathPrefix: '/private/', upstream: 'app', access: { deny: ['127.0.0.0/8'] } },
          { name: 'closed', host: 'shop.test', pathPrefix: '/closed/', upstream: 'app', access: { deny: ['127.0.0.0/8'], denyAction: 'close' } },
          { name: 'gone', host: '*', pathPrefix: '/gone/', upstream: 'gone' },
        ],
        limits: { maxUrlBytes: 1024 },
        logging: { access: file },
      });
      try {
        // 60 requests on a rate-limited route: the burst admitted, every 429 with its own line
        const limitedIds = new Set<string>();
        let admitted = 0;
        for (let i = 0; i < 60; i++) {
          const r = await request(`${f.url}/api/${i}`, { headers: { 'user-agent': 'loadgen/1' } });
          if (r.status === 429) {
            assert.match(String(r.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-z]+$/);
            limitedIds.add(String(r.headers['x-request-id']));
          } else {
            assert.equal(r.status, 200);
            admitted++;
          }
        }
        assert.ok(admitted >= 1 && admitted <= 2, `admitted ${admitted}`);
        assert.equal(limitedIds.size, 60 - admitted, 'every 429 carries its own request id');
        const lines: Record<string, unknown>[] = (await waitLines(file, 60)).map((l) => JSON.parse(l));
        assert.equal(lines.length, 60);
        const limitedLines = lines.filter((e) => e.status === 429);
        assert.deepEqual(new Set(limitedLines.map((e) => e.requestId)), limitedIds);
        for (const e of lines) {
          assert.equal(e.route, 'api');
          assert.equal(e.userAgent, 'loadgen/1');
          assert.match(String(e.path), /^\/api\/\d+$/);
          if (e.status === 429) {
            assert.deepEqual([e.reason, e.upstream, e.server, e.bytesIn], ['rate-limited', null, null, 0]);
            assert.ok(Number(e.bytesOut) > 0);
          } else assert.deepEqual([e.status, e.reason, e.upstream], [200, null, 'app']);
        }

        // the other answers fulcrum makes itself and an upstream failure, each with its kind:
        // [target, headers, status, reason, route, method and path logged, host logged]
        const longTarget = `/${'u'.repeat(1100)}`;
        const cases: [string, Record<string, string>, number, string, string | null, string | null, string | null][] = [
          ['/nothing', { host: 'other.test' }, 404, 'no-route', null, '/nothing', 'other.test'],
          ['/private/x', { host: 'shop.test' }, 403, 'access-denied', 'private', '/private/x', 'shop.test'],
          // fulcrum's engine refuses a target over maxUrlBytes while reading the request line (nothing of the request is known);
          // behind uWS the dispatcher refuses it
          engine === 'fulcrum'
            ? [longTarget, { host: 'shop.test' }, 414, 'url-too-long', null, null, null]
            : [longTarget, { host: 'shop.test' }, 414, 'url-too-long', null, longTarget, 'shop.test'],
          ['/gone/x', { host: 'other.test' }, 502, 'connect-refused', 'gone', '/gone/x', 'other.test'],
        ];
        for (const [target, headers, status, reason, route, loggedPath, loggedHost] of cases) {
          const r = await request(`${f.url}${target}`, { headers });
          assert.equal(r.status, status, target);
          const id = String(r.headers['x-request-id']);
          assert.match(id, /^[0-9a-f]{8}-[0-9a-z]+$/, `${status} carries X-Request-Id`);
          const all: Record<string, unknown>[] = (await waitLines(file, lines.length + 1)).map((l) => JSON.parse(l));
          const e = all.find((x) => x.requestId === id);
          assert.ok(e !== undefined, `a line for the ${status}`);
          assert.deepEqual(
            [e.status, e.reason, e.route, e.host, e.path, e.method, e.client],
            [status, reason, route, loggedHost, loggedPath, loggedPath === null ? null : 'GET', '127.0.0.1'],
          );
          assert.equal(e.bytesOut, r.body.length, `bytesOut of the ${status}: the body bytes sent`);
          if (status === 502) assert.deepEqual([e.upstream, e.server], ['gone', `127.0.0.1_${dead}`]);
          lines.push(e);
        }

        // a malformed request (a fragment in the target: the engine refuses the request line; uWS
        // passes it and the dispatcher refuses it), and a denied client whose connection is closed (nginx's 444)
        const bad = await rawExchange(f.port, 'GET /a#b HTTP/1.1\r\nHost: shop.test\r\n\r\n');
        assert.equal(statusOf(bad.data), 400);
        const badId = /x-request-id: (\S+)\r\n/i.exec(bad.data.toString('latin1'))?.[1];
        assert.ok(badId !== undefined, 'the 400 carries X-Request-Id');
        const closed = await rawExchange(f.port, 'GET /closed/x HTTP/1.1\r\nHost: shop.test\r\n\r\n');
        assert.equal(statusOf(closed.data), 0);
        const tail: Record<string, unknown>[] = (await waitLines(file, lines.length + 2)).slice(lines.length).map((l) => JSON.parse(l));
        assert.deepEqual(
          tail.map((e) => [e.status, e.reason, e.route, e.path, e.requestId === badId]),
          [
            [400, 'malformed-request', null, engine === 'fulcrum' ? null : '/a#b', true],
            [444, 'access-denied', 'closed', '/closed/x', false],
          ],
        );
        assert.equal(tail[0]!.bytesOut, bad.data.length - bad.data.indexOf('\r\n\r\n') - 4, 'bytesOut of the 400: its body bytes');
      } finally {
        await f.stop();
        await a.close();
      }
    });
  }

  it('writes the fields logging.accessFields names, in its order', async () => {
    const a = await createOrigin('a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
    const file = path.join(dir, 'access.log');
    const f = await startFulcrum(
      oneUpstream([a.url], { logging: { access: file, accessFields: ['status', 'reason', 'route', 'requestId', 'host'] }, routes: PRIVATE_ROUTES }),
    );
    try {
      const ok = await request(`${f.url}/x`, { headers: { host: 'a.test:8080' } });
      const denied = await request(`${f.url}/private/y`, { headers: { host: 'a.test' } });
      assert.equal(ok.status, 200);
      assert.equal(denied.status, 403);
      const lines = await waitLines(file, 2);
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^\{"status":200,"reason":null,"route":"\*\/","requestId":"[0-9a-f]{8}-[0-9a-z]+","host":"a\.test:8080"\}$/);
      assert.equal(lines[1], `{"status":403,"reason":"access-denied","route":"private","requestId":"${denied.headers['x-request-id']}","host":"a.test"}`);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('logs the answers the cache makes alone (hits, 304, only-if-cached) once each, and a fill once', async () => {
    const o = await createOrigin('o', (_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.setHeader('etag', '"v1"');
      res.end('cached body');
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
    const file = path.join(dir, 'access.log');
    const f = await startFulcrum(
      oneUpstream([o.url], { routes: [{ name: 'static', host: '*', pathPrefix: '/', upstream: 'app', cache: true }], logging: { access: file } }),
    );
    try {
      const fill = await request(`${f.url}/c`);
      const hit = await request(`${f.url}/c`);
      assert.equal(hit.text, 'cached body');
      const notModified = await request(`${f.url}/c`, { headers: { 'if-none-match': '"v1"' } });
      const missing = await request(`${f.url}/other`, { headers: { 'cache-control': 'only-if-cached' } });
      assert.deepEqual([fill.status, hit.status, notModified.status, missing.status], [200, 200, 304, 504]);
      assert.equal(o.hits, 1);
      const lines: Record<string, unknown>[] = (await waitLines(file, 4)).map((l) => JSON.parse(l));
      assert.equal(lines.length, 4, 'one line per answer');
      assert.deepEqual(
        lines.map((e) => [e.status, e.reason, e.route, e.path, e.upstream, e.bytesOut]),
        [
          [200, null, 'static', '/c', 'app', 11],
          [200, null, 'static', '/c', null, 11],
          [304, null, 'static', '/c', null, 0],
          [504, 'only-if-cached', 'static', '/other', null, missing.body.length],
        ],
      );
      assert.equal(new Set(lines.map((e) => e.requestId)).size, 4, 'each answer its own request id');
      assert.equal(lines[3]!.requestId, missing.headers['x-request-id']);
    } finally {
      await f.stop();
      await o.close();
    }
  });
});
