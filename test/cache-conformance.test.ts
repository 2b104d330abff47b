/**
 * Response cache conformance (RFC 9111 shared cache, RFC 9211 Cache-Status, RFC 5861): the real
 * process tree in front of a real origin whose response headers each test sets per path. Every
 * test uses its own paths, so stored entries never leak between tests. Staleness is produced
 * with the origin's Age field (an entry can be stored already stale), not by sleeping.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createOrigin, type Origin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { adminCall, request, type Reply } from './helpers/client.js';

interface Spec {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** ms before answering */
  delayMs?: number;
  /** answer conditional requests: 304 when If-None-Match / If-Modified-Since is present */
  answer304?: Record<string, string>;
  /** drop the connection without answering */
  destroy?: boolean;
  /** write the body in chunks (no Content-Length) */
  chunked?: boolean;
}

const specs = new Map<string, Spec>();
const hitsByPath = new Map<string, number>();
const seen = new Map<string, http.IncomingHttpHeaders[]>();

function serve(path: string, spec: Spec): void {
  specs.set(path, spec);
}
const hits = (path: string) => hitsByPath.get(path) ?? 0;
const lastHeaders = (path: string) => seen.get(path)!.at(-1)!;

function cacheStatus(r: Reply): string {
  return String(r.headers['cache-status'] ?? '');
}

describe('response cache conformance', () => {
  let o: Origin;
  let f: Fulcrum;
  let get: (path: string, headers?: Record<string, string>, method?: string) => Promise<Reply>;

  before(async () => {
    o = await createOrigin('o', (req, res) => {
      const path = new URL(req.url!, 'http://x').pathname;
      hitsByPath.set(path, hits(path) + 1);
      const list = seen.get(path) ?? [];
      list.push(req.headers);
      seen.set(path, list);
      const s = specs.get(path) ?? { status: 404, headers: {}, body: 'no spec' };
      const answer = () => {
        if (s.destroy) return req.socket.destroy();
        if (s.answer304 && (req.headers['if-none-match'] || req.headers['if-modified-since'])) {
          res.writeHead(304, s.answer304);
          return res.end();
        }
        const body = s.body ?? `body of ${path} #${hits(path)}`;
        if (s.chunked) {
          res.writeHead(s.status ?? 200, s.headers ?? {});
          const b = Buffer.from(body);
          for (let i = 0; i < b.length; i += 16384) res.write(b.subarray(i, i + 16384));
          return res.end();
        }
        res.writeHead(s.status ?? 200, { ...s.headers, 'content-length': String(Buffer.byteLength(body)) });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (s.delayMs) setTimeout(answer, s.delayMs);
      else answer();
    });
    f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: o.url }] } },
      cache: { maxBytes: 1048576, maxObjectBytes: 65536 },
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'app', cache: true },
        { host: '*', pathPrefix: '/nocache/', upstream: 'app' },
        { host: '*', pathPrefix: '/lock/', upstream: 'app', cache: { lockTimeoutMs: 200 } },
      ],
    });
    get = (path, headers = {}, method = 'GET') => request(f.url + path, { headers, method });
  });
  after(async () => {
    await f.stop();
    await o.close();
  });

  it('caches only on routes that turn it on', async () => {
    serve('/nocache/a', { headers: { 'cache-control': 'max-age=60' } });
    const r1 = await get('/nocache/a');
    const r2 = await get('/nocache/a');
    assert.equal(hits('/nocache/a'), 2);
    assert.equal(r1.headers['cache-status'], undefined);
    assert.equal(r2.headers['cache-status'], undefined);
  });

  it('stores a fresh response and answers from it, with Age and Cache-Status', async () => {
    serve('/fresh', { headers: { 'cache-control': 'max-age=60', 'x-extra': 'kept' } });
    const r1 = await get('/fresh');
    assert.match(cacheStatus(r1), /^fulcrum; fwd=uri-miss; fwd-status=200; stored; ttl=(59|60)$/);
    const r2 = await get('/fresh');
    assert.equal(hits('/fresh'), 1);
    assert.equal(r2.status, 200);
    assert.equal(r2.text, r1.text);
    assert.equal(r2.headers['x-extra'], 'kept');
    assert.equal(r2.headers.age, '0');
    assert.match(cacheStatus(r2), /^fulcrum; hit; ttl=(59|60)$/);
    assert.equal(r2.headers['content-length'], String(r1.body.length));
  });

  it('computes Age from the origin Age and Date (RFC 9111 4.2.3)', async () => {
    serve('/age', { headers: { 'cache-control': 'max-age=60', age: '20' } });
    await get('/age');
    const r = await get('/age');
    assert.equal(hits('/age'), 1);
    assert.ok(Number(r.headers.age) >= 20 && Number(r.headers.age) <= 22, `age ${r.headers.age}`);
    assert.match(cacheStatus(r), /hit; ttl=(38|39|40)$/);
    // a Date in the past makes the apparent age count
    serve('/age-date', { headers: { 'cache-control': 'max-age=600', date: new Date(Date.now() - 100_000).toUTCString() } });
    await get('/age-date');
    const r2 = await get('/age-date');
    assert.ok(Number(r2.headers.age) >= 99, `age ${r2.headers.age}`);
  });

  it('s-maxage overrides max-age for a shared cache', async () => {
    serve('/smaxage', { headers: { 'cache-control': 'max-age=0, s-maxage=60' } });
    await get('/smaxage');
    const r = await get('/smaxage');
    assert.equal(hits('/smaxage'), 1);
    assert.match(cacheStatus(r), /hit; ttl=(59|60)/);
  });

  for (const [name, cc, detail] of [
    ['no-store', 'max-age=60, no-store', 'no-store'],
    ['private', 'private, max-age=60', 'private'],
  ] as const) {
    it(`does not store ${name} responses`, async () => {
      const p = `/not-stored-${name}`;
      serve(p, { headers: { 'cache-control': cc } });
      const r1 = await get(p);
      const r2 = await get(p);
      assert.equal(hits(p), 2);
      assert.notEqual(r1.text, r2.text);
      assert.equal(cacheStatus(r2), `fulcrum; fwd=uri-miss; fwd-status=200; detail=${detail}`);
    });
  }

  it("does not store responses with Set-Cookie, so one user's cookie never reaches another", async () => {
    serve('/cookie', { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'session=alice' } });
    await get('/cookie');
    const r = await get('/cookie');
    assert.equal(hits('/cookie'), 2);
    assert.match(cacheStatus(r), /detail=set-cookie/);
  });

  it('requests with Authorization: stored and shared only when the response allows it (public, s-maxage, must-revalidate)', async () => {
    serve('/auth-plain', { headers: { 'cache-control': 'max-age=60' } });
    await get('/auth-plain', { authorization: 'Bearer alice' });
    const r = await get('/auth-plain', { authorization: 'Bearer bob' });
    assert.equal(hits('/auth-plain'), 2);
    assert.match(cacheStatus(r), /detail=authorization/);
    const anon = await get('/auth-plain');
    assert.equal(hits('/auth-plain'), 3, 'a response to alice is never served to an anonymous client');
    assert.match(cacheStatus(anon), /stored/);
    // an anonymous entry is not used for a request with Authorization either
    await get('/auth-plain', { authorization: 'Bearer carol' });
    assert.equal(hits('/auth-plain'), 4);

    serve('/auth-public', { headers: { 'cache-control': 'public, max-age=60' } });
    await get('/auth-public', { authorization: 'Bearer alice' });
    const r2 = await get('/auth-public', { authorization: 'Bearer bob' });
    assert.equal(hits('/auth-public'), 1);
    assert.match(cacheStatus(r2), /hit/);
  });

  it('Expires and Date give the freshness when there is no max-age; an invalid Expires is already expired', async () => {
    const now = Date.now();
    serve('/expires', { headers: { date: new Date(now).toUTCString(), expires: new Date(now + 60_000).toUTCString() } });
    await get('/expires');
    const r = await get('/expires');
    assert.equal(hits('/expires'), 1);
    assert.match(cacheStatus(r), /hit; ttl=(59|60)/);
    serve('/expires-0', { headers: { expires: '0' } });
    await get('/expires-0');
    const r2 = await get('/expires-0');
    assert.equal(hits('/expires-0'), 2);
    assert.match(cacheStatus(r2), /detail=stale-on-arrival/);
  });

  it('uses heuristic freshness only for heuristically cacheable statuses with Last-Modified', async () => {
    const lm = new Date(Date.now() - 10 * 86400_000).toUTCString();
    serve('/heuristic', { headers: { 'last-modified': lm } });
    await get('/heuristic');
    const r = await get('/heuristic');
    assert.equal(hits('/heuristic'), 1);
    // 10% of 10 days is 1 day: capped by heuristicMaxSeconds (86400)
    assert.match(cacheStatus(r), /hit; ttl=(86399|86400)/);
    serve('/heuristic-302', { status: 302, headers: { 'last-modified': lm, location: '/x' } });
    await get('/heuristic-302');
    const r2 = await get('/heuristic-302');
    assert.equal(hits('/heuristic-302'), 2);
    assert.match(cacheStatus(r2), /detail=no-freshness/);
    serve('/heuristic-none', {});
    await get('/heuristic-none');
    await get('/heuristic-none');
    assert.equal(hits('/heuristic-none'), 2, 'no Last-Modified, no explicit expiry: not reused');
  });

  it('stores other cacheable statuses (404) but not 206', async () => {
    serve('/gone', { status: 404, headers: { 'cache-control': 'max-age=60' } });
    await get('/gone');
    const r = await get('/gone');
    assert.equal(r.status, 404);
    assert.equal(hits('/gone'), 1);
    serve('/partial', { status: 206, headers: { 'cache-control': 'max-age=60', 'content-range': 'bytes 0-3/10' }, body: 'abcd' });
    await get('/partial');
    await get('/partial');
    assert.equal(hits('/partial'), 2);
  });

  it('no-cache responses are stored but revalidated on every use; a 304 answers from the store', async () => {
    serve('/nocache-resp', { headers: { 'cache-control': 'no-cache', etag: '"n1"' }, answer304: { etag: '"n1"', 'cache-control': 'no-cache' } });
    const r1 = await get('/nocache-resp');
    const r2 = await get('/nocache-resp');
    assert.equal(hits('/nocache-resp'), 2);
    assert.equal(lastHeaders('/nocache-resp')['if-none-match'], '"n1"');
    assert.equal(r2.status, 200);
    assert.equal(r2.text, r1.text);
    assert.match(cacheStatus(r2), /fwd=stale; fwd-status=304/);
  });

  it('revalidates a stale entry with If-None-Match and If-Modified-Since; a 304 refreshes it', async () => {
    serve('/reval-etag', { headers: { 'cache-control': 'max-age=10', age: '30', etag: '"e1"' }, answer304: { etag: '"e1"', 'cache-control': 'max-age=60' } });
    const r1 = await get('/reval-etag');
    const r2 = await get('/reval-etag', { 'if-none-match': '"client-tag"' });
    assert.equal(hits('/reval-etag'), 2);
    assert.equal(lastHeaders('/reval-etag')['if-none-match'], '"e1"', "the cache sends its own validator, not the client's");
    assert.equal(r2.status, 200);
    assert.equal(r2.text, r1.text);
    assert.match(cacheStatus(r2), /^fulcrum; fwd=stale; fwd-status=304; ttl=(59|60)$/);
    const r3 = await get('/reval-etag');
    assert.equal(hits('/reval-etag'), 2, 'refreshed by the 304');
    assert.match(cacheStatus(r3), /hit/);
    assert.equal(r3.headers['cache-control'], 'max-age=60', 'fields of the 304 update the stored ones');

    const lm = new Date(Date.now() - 3600_000).toUTCString();
    serve('/reval-lm', { headers: { 'cache-control': 'max-age=10', age: '30', 'last-modified': lm }, answer304: { 'cache-control': 'max-age=60' } });
    await get('/reval-lm');
    await get('/reval-lm');
    assert.equal(hits('/reval-lm'), 2);
    assert.equal(lastHeaders('/reval-lm')['if-modified-since'], lm);
    await get('/reval-lm');
    assert.equal(hits('/reval-lm'), 2);
  });

  it('a Set-Cookie on a 304 is not merged into the stored response', async () => {
    serve('/reval-cookie', {
      headers: { 'cache-control': 'max-age=10', age: '30', etag: '"k1"' },
      answer304: { etag: '"k1"', 'cache-control': 'max-age=60', 'set-cookie': 'session=alice' },
    });
    await get('/reval-cookie');
    await get('/reval-cookie');
    const r = await get('/reval-cookie');
    assert.equal(hits('/reval-cookie'), 2);
    assert.match(cacheStatus(r), /hit/);
    assert.equal(r.headers['set-cookie'], undefined);
  });

  it("answers clients' conditional requests with 304 from the store", async () => {
    const lm = new Date(Date.now() - 3600_000).toUTCString();
    serve('/cond', { headers: { 'cache-control': 'max-age=60', etag: '"c1"', 'last-modified': lm } });
    await get('/cond');
    const r1 = await get('/cond', { 'if-none-match': 'W/"c1", "other"' });
    assert.equal(r1.status, 304);
    assert.equal(r1.headers.etag, '"c1"');
    assert.equal(r1.body.length, 0);
    const r2 = await get('/cond', { 'if-modified-since': new Date().toUTCString() });
    assert.equal(r2.status, 304);
    const r3 = await get('/cond', { 'if-none-match': '"nope"' });
    assert.equal(r3.status, 200);
    assert.equal(hits('/cond'), 1);
  });

  it('must-revalidate, proxy-revalidate and s-maxage forbid serving stale, even on errors', async () => {
    for (const cc of [
      'max-age=10, must-revalidate, stale-if-error=600',
      'max-age=10, proxy-revalidate, stale-if-error=600',
      's-maxage=10, stale-if-error=600',
    ]) {
      const p = `/mr-${cc.split(',')[1]!.trim().replace(/=.*/, '')}-${cc.slice(0, 2)}`;
      serve(p, { headers: { 'cache-control': cc, age: '30' } });
      await get(p);
      serve(p, { status: 503, body: 'down' });
      const r = await get(p);
      assert.equal(r.status, 503, cc);
      assert.equal(r.text, 'down');
    }
  });

  it('stale-if-error serves the stale entry when the server answers 5xx or fails', async () => {
    serve('/sie', { headers: { 'cache-control': 'max-age=10, stale-if-error=600', age: '30' } });
    const r1 = await get('/sie');
    serve('/sie', { status: 503, body: 'down' });
    const r2 = await get('/sie');
    assert.equal(r2.status, 200);
    assert.equal(r2.text, r1.text);
    assert.match(cacheStatus(r2), /fwd=stale; fwd-status=503; ttl=-\d+; detail=stale-if-error/);
    serve('/sie', { destroy: true });
    const r3 = await get('/sie');
    assert.equal(r3.status, 200);
    assert.equal(r3.text, r1.text);
    assert.match(cacheStatus(r3), /detail=stale-if-error/);
    // beyond the window: the error goes through
    serve('/sie-old', { headers: { 'cache-control': 'max-age=10, stale-if-error=5', age: '30' } });
    await get('/sie-old');
    serve('/sie-old', { status: 503, body: 'down' });
    assert.equal((await get('/sie-old')).status, 503);
  });

  it('coalesced requests get the stale entry too when the revalidation fails (stale-if-error)', async () => {
    serve('/sie-coalesced', { headers: { 'cache-control': 'max-age=10, stale-if-error=600', age: '30', etag: '"s"' }, body: 'old' });
    await get('/sie-coalesced');
    serve('/sie-coalesced', { status: 503, body: 'down', delayMs: 200 });
    const rs = await Promise.all(Array.from({ length: 5 }, () => get('/sie-coalesced')));
    assert.deepEqual(
      rs.map((r) => [r.status, r.text]),
      Array(5).fill([200, 'old']),
    );
    assert.equal(hits('/sie-coalesced'), 2, 'one revalidation for all five');
  });

  it('a request with Cache-Control: no-store is answered but its response is not stored', async () => {
    serve('/req-no-store', { headers: { 'cache-control': 'max-age=60' } });
    const r = await get('/req-no-store', { 'cache-control': 'no-store' });
    assert.match(cacheStatus(r), /detail=request-no-store/);
    await get('/req-no-store');
    assert.equal(hits('/req-no-store'), 2);
  });

  it('stale-while-revalidate serves stale at once and refreshes in the background, once', async () => {
    serve('/swr', { headers: { 'cache-control': 'max-age=10, stale-while-revalidate=600', age: '30' }, body: 'v1' });
    await get('/swr');
    serve('/swr', { headers: { 'cache-control': 'max-age=60' }, body: 'v2', delayMs: 200 });
    const rs = await Promise.all([get('/swr'), get('/swr'), get('/swr')]);
    for (const r of rs) {
      assert.equal(r.text, 'v1');
      assert.match(cacheStatus(r), /hit; ttl=-\d+; detail=stale-while-revalidate/);
    }
    const deadline = Date.now() + 3000;
    while (hits('/swr') < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hits('/swr'), 2, 'one background refresh');
    const r = await get('/swr');
    assert.equal(r.text, 'v2');
    assert.match(cacheStatus(r), /hit; ttl=/);
  });

  it('immutable: a fresh entry is served even when the client asks to reload; others are revalidated', async () => {
    serve('/immutable', { headers: { 'cache-control': 'max-age=60, immutable' } });
    await get('/immutable');
    const r = await get('/immutable', { 'cache-control': 'no-cache' });
    assert.equal(hits('/immutable'), 1);
    assert.match(cacheStatus(r), /hit/);
    serve('/reload', { headers: { 'cache-control': 'max-age=60' } });
    await get('/reload');
    const r2 = await get('/reload', { 'cache-control': 'no-cache' });
    assert.equal(hits('/reload'), 2);
    assert.match(cacheStatus(r2), /fwd=request/);
    await get('/reload', { pragma: 'no-cache' });
    assert.equal(hits('/reload'), 3, 'Pragma: no-cache without Cache-Control');
    await get('/reload', { 'cache-control': 'max-age=0' });
    assert.equal(hits('/reload'), 4);
  });

  it('request directives: max-stale accepts a stale entry, min-fresh refuses a nearly stale one, only-if-cached', async () => {
    serve('/maxstale', { headers: { 'cache-control': 'max-age=10', age: '30', etag: '"m"' } });
    await get('/maxstale');
    const r = await get('/maxstale', { 'cache-control': 'max-stale=60' });
    assert.equal(hits('/maxstale'), 1);
    assert.match(cacheStatus(r), /hit; ttl=-\d+; detail=max-stale/);
    serve('/minfresh', { headers: { 'cache-control': 'max-age=60' } });
    await get('/minfresh');
    await get('/minfresh', { 'cache-control': 'min-fresh=120' });
    assert.equal(hits('/minfresh'), 2);
    const r2 = await get('/only-if-cached-miss', { 'cache-control': 'only-if-cached' });
    assert.equal(r2.status, 504);
    assert.equal(hits('/only-if-cached-miss'), 0);
  });

  it('Vary: one variant per value of the varying fields; Vary: * is never stored', async () => {
    serve('/vary', { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' } });
    const en = await get('/vary', { 'accept-language': 'en' });
    const fr = await get('/vary', { 'accept-language': 'fr' });
    assert.notEqual(en.text, fr.text);
    assert.match(cacheStatus(fr), /fwd=vary-miss/);
    const en2 = await get('/vary', { 'accept-language': 'en' });
    const fr2 = await get('/vary', { 'accept-language': 'fr' });
    assert.equal(en2.text, en.text);
    assert.equal(fr2.text, fr.text);
    await get('/vary');
    assert.equal(hits('/vary'), 3, 'no Accept-Language is a variant of its own');
    serve('/vary-star', { headers: { 'cache-control': 'max-age=60', vary: '*' } });
    await get('/vary-star');
    const r = await get('/vary-star');
    assert.equal(hits('/vary-star'), 2);
    assert.match(cacheStatus(r), /detail=vary-star/);
  });

  it('HEAD is answered from a stored GET; other methods pass through with fwd=method', async () => {
    serve('/head', { headers: { 'cache-control': 'max-age=60' }, body: '0123456789' });
    await get('/head');
    const h = await get('/head', {}, 'HEAD');
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '10');
    assert.equal(h.body.length, 0);
    assert.equal(hits('/head'), 1);
    const p = await request(f.url + '/head', { method: 'OPTIONS' });
    assert.equal(cacheStatus(p), 'fulcrum; fwd=method');
    assert.equal(hits('/head'), 2);
  });

  it('unsafe methods invalidate the URL and its Location on a non-error answer', async () => {
    serve('/inval', { headers: { 'cache-control': 'max-age=60' } });
    serve('/inval-other', { headers: { 'cache-control': 'max-age=60' } });
    await get('/inval');
    await get('/inval-other');
    serve('/inval', { status: 500, headers: { 'cache-control': 'max-age=60' } });
    await request(f.url + '/inval', { method: 'POST', body: 'x' });
    serve('/inval', { headers: { 'cache-control': 'max-age=60' } });
    await get('/inval');
    assert.equal(hits('/inval'), 2, 'an error answer does not invalidate');
    serve('/inval', { status: 201, headers: { location: '/inval-other' } });
    await request(f.url + '/inval', { method: 'PUT', body: 'x' });
    serve('/inval', { headers: { 'cache-control': 'max-age=60' } });
    await get('/inval');
    await get('/inval-other');
    assert.equal(hits('/inval'), 4);
    assert.equal(hits('/inval-other'), 2);
    await request(f.url + '/inval', { method: 'DELETE' });
    await get('/inval');
    assert.equal(hits('/inval'), 6);
  });

  it('responses over maxObjectBytes stream through uncached, with or without Content-Length', async () => {
    const big = Buffer.alloc(200 * 1024, 'x');
    big.write('start');
    serve('/big', { headers: { 'cache-control': 'max-age=60' }, body: big });
    const r1 = await get('/big');
    const r2 = await get('/big');
    assert.ok(r1.body.equals(big) && r2.body.equals(big));
    assert.equal(hits('/big'), 2);
    assert.match(cacheStatus(r2), /detail=too-large/);
    serve('/big-chunked', { headers: { 'cache-control': 'max-age=60' }, body: big, chunked: true });
    const c1 = await get('/big-chunked');
    const c2 = await get('/big-chunked');
    assert.ok(c1.body.equals(big) && c2.body.equals(big));
    assert.equal(hits('/big-chunked'), 2);
    // a small chunked response is stored
    serve('/small-chunked', { headers: { 'cache-control': 'max-age=60' }, body: 'a'.repeat(40000), chunked: true });
    await get('/small-chunked');
    const s = await get('/small-chunked');
    assert.equal(s.text, 'a'.repeat(40000));
    assert.equal(hits('/small-chunked'), 1);
  });

  it('evicts the least recently used entries beyond maxBytes', async () => {
    const body = Buffer.alloc(60 * 1024, 'e');
    for (let i = 0; i < 20; i++) serve(`/lru/${i}`, { headers: { 'cache-control': 'max-age=600' }, body });
    for (let i = 0; i < 20; i++) await get(`/lru/${i}`);
    const last = await get('/lru/19');
    assert.match(cacheStatus(last), /hit/);
    const first = await get('/lru/0');
    assert.match(cacheStatus(first), /uri-miss/, '20 x 60 KiB do not fit in 1 MiB: the oldest went first');
  });

  it('coalesces 100 concurrent misses for one URL into one upstream request', async () => {
    serve('/coalesce', { headers: { 'cache-control': 'max-age=60' }, delayMs: 300 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
    const rs = await Promise.all(Array.from({ length: 100 }, () => request(f.url + '/coalesce', { agent })));
    agent.destroy();
    assert.equal(hits('/coalesce'), 1);
    const bodies = new Set(rs.map((r) => r.text));
    assert.equal(bodies.size, 1);
    assert.ok(rs.every((r) => r.status === 200));
    assert.equal(rs.filter((r) => /detail=coalesced/.test(cacheStatus(r))).length, 99);
  });

  it('coalesced requests wait at most lockTimeoutMs, then go upstream on their own', async () => {
    serve('/lock/slow', { headers: { 'cache-control': 'max-age=60' }, delayMs: 800 });
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 5 }, () => get('/lock/slow')));
    assert.ok(rs.every((r) => r.status === 200));
    assert.equal(hits('/lock/slow'), 5);
    assert.ok(Date.now() - t0 < 3000);
  });

  it('errors on a cached route carry Cache-Status too', async () => {
    serve('/dropped', { destroy: true });
    const r = await get('/dropped');
    assert.equal(r.status, 502);
    assert.equal(cacheStatus(r), 'fulcrum; fwd=uri-miss');
  });

  it('POST /cache/purge drops a URL or a prefix', async () => {
    serve('/purge/a', { headers: { 'cache-control': 'max-age=60' } });
    serve('/purge/b', { headers: { 'cache-control': 'max-age=60' } });
    serve('/keep', { headers: { 'cache-control': 'max-age=60' } });
    for (const p of ['/purge/a', '/purge/b', '/keep']) await get(p);
    const p1 = await request(f.adminUrl + '/cache/purge', {
      method: 'POST',
      body: JSON.stringify({ url: `http://127.0.0.1:${f.port}/purge/a` }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(p1.status, 200);
    assert.equal(JSON.parse(p1.text).dropped, 1);
    await get('/purge/a');
    await get('/purge/b');
    assert.equal(hits('/purge/a'), 2);
    assert.equal(hits('/purge/b'), 1);
    const p2 = await adminCall(f.adminUrl, 'POST', '/cache/purge', { prefix: '/purge/' });
    assert.equal(JSON.parse(p2.text).dropped, 2);
    for (const p of ['/purge/a', '/purge/b', '/keep']) await get(p);
    assert.deepEqual([hits('/purge/a'), hits('/purge/b'), hits('/keep')], [3, 2, 1]);
    const bad = await adminCall(f.adminUrl, 'POST', '/cache/purge', {});
    assert.equal(bad.status, 400);
  });
});

const BIG = Buffer.alloc(6 * 1024 * 1024);
for (let i = 0; i < BIG.length; i += 4) BIG.writeUInt32LE(i, i);

describe('response cache purge across workers', () => {
  let o: Origin;
  let f: Fulcrum;
  let version = 1;
  before(async () => {
    o = await createOrigin('o', (req, res) => {
      res.setHeader('cache-control', 'max-age=600');
      res.end(req.url === '/big' ? BIG : `v${version}`);
    });
    f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: [{ url: o.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app', cache: true }],
    });
  });
  after(async () => {
    await f.stop();
    await o.close();
  });

  it('sends a large stored body under client back-pressure, byte for byte', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const r1 = await request(f.url + '/big', { agent });
    const r2 = await request(f.url + '/big', { agent });
    agent.destroy();
    assert.ok(r1.body.equals(BIG));
    assert.ok(r2.body.equals(BIG));
    assert.match(cacheStatus(r2), /hit/);
  });

  it('reaches every worker', async () => {
    // new connections spread over both workers (SO_REUSEPORT)
    for (let i = 0; i < 30; i++) assert.equal((await request(f.url + '/p')).text, 'v1');
    version = 2;
    const p = await adminCall(f.adminUrl, 'POST', '/cache/purge', { url: '/p' });
    const body = JSON.parse(p.text);
    assert.equal(body.workers, 2);
    assert.equal(body.workersConfirmed, 2);
    for (let i = 0; i < 30; i++) assert.equal((await request(f.url + '/p')).text, 'v2', 'no worker kept the old entry');
  });
});
