/**
 * Response compression through the real process tree: negotiation by Accept-Encoding q-values,
 * what is never compressed, per-route overrides, where the work runs (reused codecs for gzip,
 * deflate, zstd; the piscina pool for br; counted through GET /status) including the cache's
 * compress-once behaviour.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOrigin, type Origin } from './helpers/origin.js';
import { runCli, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { request, type Reply } from './helpers/client.js';
import { ZSTD_AVAILABLE } from '../src/worker/compress/codecs.js';

const JSON_BODY = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['alpha', 'beta'] })));

function decode(r: Reply): Buffer {
  switch (r.headers['content-encoding']) {
    case 'br':
      return zlib.brotliDecompressSync(r.body);
    case 'gzip':
      return zlib.gunzipSync(r.body);
    case 'deflate':
      return zlib.inflateSync(r.body);
    case 'zstd':
      return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(r.body);
    default:
      return r.body;
  }
}

interface Counters {
  poolTasks: number;
  mainThreadTasks: number;
  bytesIn: number;
}

/** counters returns GET /status's compression counters (bytesIn: the identity bytes compressed, wherever). */
async function counters(f: Fulcrum): Promise<Counters> {
  // reports reach the primary every 100 ms
  await new Promise((r) => setTimeout(r, 300));
  const s = JSON.parse((await request(f.adminUrl + '/status')).text);
  return s.compression ?? { poolTasks: 0, mainThreadTasks: 0, bytesIn: 0 };
}

describe('compression', () => {
  let o: Origin;
  let f: Fulcrum;
  before(async () => {
    o = await createOrigin('o', (req, res) => {
      const u = new URL(req.url!, 'http://x');
      const h: Record<string, string> = { 'content-type': u.searchParams.get('type') ?? 'application/json; charset=utf-8' };
      for (const k of ['etag', 'cache-control', 'content-encoding', 'content-range']) {
        const v = u.searchParams.get(k);
        if (v) h[k] = v;
      }
      const status = Number(u.searchParams.get('status') ?? 200);
      const size = Number(u.searchParams.get('size') ?? JSON_BODY.length);
      const body = Buffer.from(JSON_BODY.repeat(Math.ceil(size / JSON_BODY.length)).slice(0, size));
      if (u.searchParams.has('chunked')) {
        res.writeHead(status, h);
        res.write(body.subarray(0, 100));
        return void setTimeout(() => res.end(body.subarray(100)), 10);
      }
      if (status === 304) {
        res.writeHead(304, h);
        return void res.end();
      }
      res.writeHead(status, { ...h, 'content-length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: o.url }] } },
      compression: { maxBytes: 200000 },
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'app' },
        { host: '*', pathPrefix: '/off/', upstream: 'app', compression: false },
        { host: '*', pathPrefix: '/gzip-only/', upstream: 'app', compression: { algorithms: ['gzip'], minBytes: 50000 } },
        { host: '*', pathPrefix: '/cached/', upstream: 'app', cache: true },
      ],
    });
  });
  after(async () => {
    await f.stop();
    await o.close();
  });

  for (const [ae, expected] of [
    ['gzip, deflate, br', 'br'],
    ['gzip;q=1, br;q=0.5', 'gzip'],
    ['deflate', 'deflate'],
    // "*" takes the server's next preference after br: zstd where Node has it (22.15+, 24), else gzip
    ['br;q=0, *;q=0.5', ZSTD_AVAILABLE ? 'zstd' : 'gzip'],
    ['identity', undefined],
    ['gzip;q=0', undefined],
  ] as const) {
    it(`Accept-Encoding "${ae}" gets ${expected ?? 'identity'}`, async () => {
      const r = await request(`${f.url}/a?etag="x1"`, { headers: { 'accept-encoding': ae } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], expected);
      assert.equal(decode(r).toString(), JSON_BODY);
      assert.equal(r.headers['content-length'], String(r.body.length));
      if (expected) {
        assert.ok(r.body.length < JSON_BODY.length / 3);
        assert.equal(r.headers.vary, 'Accept-Encoding');
        assert.equal(r.headers.etag, 'W/"x1"', 'a strong ETag is weakened');
      } else {
        assert.equal(r.headers.etag, '"x1"');
      }
    });
  }

  it('keeps a weak ETag as it is', async () => {
    const r = await request(`${f.url}/a?etag=W/"w"`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers.etag, 'W/"w"');
  });

  it('never compresses what must not be (not a byte of these is compressed)', async () => {
    const before = await counters(f);
    const cases: [string, string?][] = [
      ['/a?size=500'],
      ['/a?content-encoding=identity-x'],
      ['/a?cache-control=no-transform'],
      ['/a?status=206&content-range=bytes 0-9/100'],
      ['/a?type=image/png'],
      ['/off/a'],
      ['/gzip-only/a?size=20000'],
      ['/a?status=204'],
    ];
    for (const [path] of cases) {
      const r = await request(f.url + path, { headers: { 'accept-encoding': 'br, gzip' } });
      assert.equal(r.headers['content-encoding'], path.includes('content-encoding') ? 'identity-x' : undefined, path);
    }
    const head = await request(`${f.url}/a`, { method: 'HEAD', headers: { 'accept-encoding': 'br' } });
    assert.equal(head.headers['content-encoding'], undefined);
    const nm = await request(`${f.url}/a?status=304&etag="e"`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(nm.status, 304);
    assert.equal(nm.headers['content-encoding'], undefined);
    const after = await counters(f);
    assert.equal(after.bytesIn, before.bytesIn, 'none of these was compressed');
    assert.equal(after.poolTasks, before.poolTasks);
  });

  it('compresses bodies above maxBytes and chunked bodies as they stream, without the pool', async () => {
    const before = await counters(f);
    for (const path of ['/a?size=300000', '/a?chunked=1', '/a?chunked=1&size=500']) {
      const r = await request(f.url + path, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(r.headers['content-encoding'], 'gzip', path);
      assert.equal(r.headers['content-length'], undefined, path);
      assert.equal(r.headers['transfer-encoding'], 'chunked', path);
      assert.equal(r.headers.vary, 'Accept-Encoding', path);
      const size = Number(new URL(path, 'http://x').searchParams.get('size') ?? JSON_BODY.length);
      assert.equal(decode(r).toString(), JSON_BODY.repeat(Math.ceil(size / JSON_BODY.length)).slice(0, size), path);
    }
    assert.equal((await counters(f)).poolTasks, before.poolTasks, 'streamed bodies are compressed by node:zlib streams');
  });

  it('gzip, deflate and zstd bodies of a known length keep a Content-Length and never visit the thread pool; br does', async () => {
    const before = await counters(f);
    const algs = ZSTD_AVAILABLE ? ['gzip', 'deflate', 'zstd'] : ['gzip', 'deflate'];
    // many at once: they queue for the worker's codecs, and each client gets its own body
    const sizes = Array.from({ length: 24 }, (_, i) => 2000 + i * 7919);
    const replies = await Promise.all(sizes.map((size, i) => request(`${f.url}/a?size=${size}`, { headers: { 'accept-encoding': algs[i % algs.length]! } })));
    let bytes = 0;
    for (let i = 0; i < sizes.length; i++) {
      const r = replies[i]!;
      assert.equal(r.headers['content-encoding'], algs[i % algs.length]);
      assert.equal(r.headers['content-length'], String(r.body.length));
      assert.equal(decode(r).toString(), JSON_BODY.repeat(Math.ceil(sizes[i]! / JSON_BODY.length)).slice(0, sizes[i]!));
      bytes += sizes[i]!;
    }
    const mid = await counters(f);
    assert.equal(mid.poolTasks, before.poolTasks, 'no pool task');
    assert.equal(mid.bytesIn - before.bytesIn, bytes, 'each body compressed once');
    const br = await request(`${f.url}/a?size=30000`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(br.headers['content-length'], String(br.body.length));
    assert.equal(decode(br).length, 30000);
    assert.equal((await counters(f)).poolTasks, before.poolTasks + 1, 'brotli is one pool task');
  });

  it('per-route settings: algorithms and minBytes', async () => {
    const r = await request(`${f.url}/gzip-only/a?size=60000`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(decode(r).length, 60000);
  });

  it('a cached object is compressed once per encoding, not once per request', async () => {
    const before = await counters(f);
    for (let i = 0; i < 10; i++) {
      const r = await request(`${f.url}/cached/obj?cache-control=max-age=60`, { headers: { 'accept-encoding': 'br' } });
      assert.equal(r.headers['content-encoding'], 'br');
      assert.equal(decode(r).toString(), JSON_BODY);
      assert.match(String(r.headers['cache-status']), i === 0 ? /fwd=uri-miss; fwd-status=200; stored/ : /hit/);
    }
    for (let i = 0; i < 5; i++) {
      const r = await request(`${f.url}/cached/obj?cache-control=max-age=60`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(decode(r).toString(), JSON_BODY);
    }
    const plain = await request(`${f.url}/cached/obj?cache-control=max-age=60`);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.text, JSON_BODY);
    const after = await counters(f);
    assert.equal(after.bytesIn - before.bytesIn, 2 * JSON_BODY.length, 'compressed once in br and once in gzip');
    assert.equal(after.poolTasks - before.poolTasks, 1, 'the br on the pool, the gzip on a codec');
    assert.equal(o.requests.filter((r) => r.url!.startsWith('/cached/obj')).length, 1);
  });
});

describe('compression on the main thread (poolSize 0)', () => {
  let o: Origin;
  let f: Fulcrum;
  before(async () => {
    o = await createOrigin('o', (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(JSON_BODY);
    });
    f = await startFulcrum({
      workers: 1,
      compression: { poolSize: 0 },
      upstreams: { app: { servers: [{ url: o.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
  });
  after(async () => {
    await f.stop();
    await o.close();
  });

  it('compresses brotli without the pool (gzip is on the codecs either way)', async () => {
    for (const ae of ['br', 'gzip']) {
      const r = await request(`${f.url}/x`, { headers: { 'accept-encoding': ae } });
      assert.equal(r.headers['content-encoding'], ae);
      assert.equal(decode(r).toString(), JSON_BODY);
    }
    const s = await counters(f);
    assert.equal(s.poolTasks, 0);
    assert.equal(s.mainThreadTasks, 1, 'the br');
  });
});

describe('cache and compression config', () => {
  it('fulcrum check names the path, the value and what was expected', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
    const file = path.join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }] } },
        cache: { maxBytes: 1000, maxObjectBytes: 2000 },
        compression: { algorithms: ['lzma'] },
        routes: [{ upstream: 'app', cache: 'yes', compression: { minBytes: -1 } }],
      }),
    );
    const r = await runCli(['check', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\$\.cache\.maxObjectBytes: got 2000; expected at most cache\.maxBytes \(1000\)/);
    assert.match(r.stderr, /\$\.compression\.algorithms\[0\]: got "lzma"/);
    assert.match(r.stderr, /\$\.routes\[0\]\.cache: got "yes"/);
  });
});
