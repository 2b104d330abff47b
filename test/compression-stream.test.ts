/**
 * Compression of streamed responses through the real process tree (one worker): a 5 MiB chunked
 * JSON body from a node:http server (writeHead + write + end) compressed byte-exact with gzip and
 * br while the worker's RSS stays flat, a client that stops reading makes the server's writes
 * block, server-sent events leave one by one, the cached route's miss and hit are both compressed
 * and decode to the same bytes (the hit from the variant the miss produced), and what is never
 * compressed (Content-Encoding, no-transform, 206, HEAD, 204, 304) stays as it is. zstd runs where
 * Node.js has it (22.15 / 23.8 and later; e.g. ~/.cache/fulcrum-node/<v24>/bin/node --test on this
 * file after scripts/with-node.sh 24 installed it) and is skipped with the reason elsewhere.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { ZSTD_AVAILABLE } from '../src/worker/compress/codecs.js';
import { request, type Reply } from './helpers/client.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { createOrigin, type Origin } from './helpers/origin.js';

const MIB = 1024 * 1024;
const NO_ZSTD = ZSTD_AVAILABLE ? false : `Node.js ${process.versions.node} has no zstd (node:zlib has it from 22.15 / 23.8)`;

/** node:zlib's zstd decoder (Node.js 22.15 / 23.8 and later; @types/node 20 does not declare it) */
interface ZstdDecode {
  zstdDecompressSync(b: Buffer): Buffer;
}

/** n bytes of JSON records with some variety (compresses to about a fifth, as API answers do). */
function json(n: number): Buffer {
  const parts: string[] = ['['];
  let len = 1;
  for (let i = 0; len < n; i++) {
    const rec = `${i ? ',' : ''}{"id":${i},"sku":"${((i * 2654435761) >>> 0).toString(36)}","price":${((i * 1.37) % 100).toFixed(2)},"tags":["t${i % 17}","u${i % 29}"]}`;
    parts.push(rec);
    len += rec.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

const BODY = json(5 * MIB);
const SMALL = json(40_000);

function decode(encoding: string | undefined, b: Buffer): Buffer {
  switch (encoding) {
    case 'br':
      return zlib.brotliDecompressSync(b);
    case 'gzip':
      return zlib.gunzipSync(b);
    case 'deflate':
      return zlib.inflateSync(b);
    case 'zstd':
      return (zlib as unknown as ZstdDecode).zstdDecompressSync(b);
    default:
      return b;
  }
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** watchRss samples a process's RSS every 20 ms until stopped; returns the peak. */
function watchRss(pid: number): { stop(): number } {
  let peak = rssOf(pid);
  const t = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, rssOf(pid));
    },
  };
}

/** until waits for cond (checked every 20 ms), at most ms. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** writeAll writes body in pieces, honouring back-pressure (a node:http server that streams). */
function writeAll(res: http.ServerResponse, body: Buffer, piece: number): void {
  let at = 0;
  const pump = () => {
    while (at < body.length) {
      const end = Math.min(at + piece, body.length);
      const ok = res.write(body.subarray(at, end));
      at = end;
      if (!ok) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

/** bytesCompressed: GET /status's compression.bytesIn, the identity bytes compressed (codecs and pool). */
async function bytesCompressed(f: Fulcrum): Promise<number> {
  // reports reach the primary every 100 ms
  await new Promise((r) => setTimeout(r, 300));
  const s = JSON.parse((await request(f.adminUrl + '/status')).text);
  return s.compression?.bytesIn ?? 0;
}

// bounded: a hang fails the file instead of holding the suite
describe('compression of streamed responses', { timeout: 240_000 }, () => {
  let o: Origin;
  let f: Fulcrum;
  let worker: number;
  /** the slow-client response: bytes written so far, and whether the server saw its response closed */
  let slowWritten = 0;
  let slowClosed = false;
  /** the server-sent events response, and how many events it sent */
  let sse: http.ServerResponse | null = null;
  before(async () => {
    o = await createOrigin('o', (req, res) => {
      const u = new URL(req.url!, 'http://x');
      const p = u.pathname;
      if (p === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        sse = res;
        return;
      }
      if (p === '/endless') {
        // poorly compressible JSON-typed text, written until the response is closed
        slowWritten = 0;
        slowClosed = false;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.on('close', () => (slowClosed = true));
        const block = Buffer.from(randomBytes(192 * 1024).toString('base64'));
        const pump = () => {
          while (!res.destroyed) {
            slowWritten += block.length;
            if (!res.write(block)) return void res.once('drain', pump);
          }
        };
        pump();
        return;
      }
      const h: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', etag: '"v1"' };
      for (const k of ['cache-control', 'content-encoding', 'content-range']) {
        const v = u.searchParams.get(k);
        if (v) h[k] = v;
      }
      const status = Number(u.searchParams.get('status') ?? 200);
      const body = p.includes('/big') ? BODY : SMALL;
      if (u.searchParams.has('length')) h['content-length'] = String(body.length);
      res.writeHead(status, h); // no Content-Length: node:http sends it chunked
      if (req.method === 'HEAD' || status === 204 || status === 304) return void res.end();
      writeAll(res, body, Number(u.searchParams.get('piece') ?? 16384));
    });
    f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: o.url }] } },
      compression: { maxBytes: 100_000 },
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'app' },
        { host: '*', pathPrefix: '/cached/', upstream: 'app', cache: true },
      ],
    });
    const pids = f.workerPids();
    assert.equal(pids.length, 1);
    worker = pids[0]!;
  });
  after(async () => {
    sse?.destroy();
    await f.stop();
    await o.close();
  });

  it('compresses a 5 MiB chunked JSON body byte-exact with gzip and br, with flat worker memory', async () => {
    // the first responses start the thread pool, create the codecs and grow the heap
    for (const enc of ['gzip', 'br']) await request(`${f.url}/big/warm`, { headers: { 'accept-encoding': enc } });
    for (const enc of ['gzip', 'br']) {
      const before = rssOf(worker);
      const watch = watchRss(worker);
      const r = await request(`${f.url}/big/x`, { headers: { 'accept-encoding': enc }, timeoutMs: 60_000 });
      const peak = watch.stop();
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], enc);
      assert.equal(r.headers['transfer-encoding'], 'chunked');
      assert.equal(r.headers['content-length'], undefined);
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.headers.etag, 'W/"v1"', 'the strong ETag is weakened');
      assert.ok(r.body.length < BODY.length / 3, `${enc}: ${r.body.length} bytes`);
      assert.ok(decode(enc, r.body).equals(BODY), `${enc}: decodes byte-exact`);
      const growth = peak - before;
      assert.ok(growth < 16 * MIB, `${enc}: worker RSS grew by ${(growth / MIB).toFixed(1)} MiB`);
    }
  });

  it('zstd, where Node.js has it: streamed and whole bodies decode byte-exact, preferred by q-value', { skip: NO_ZSTD }, async () => {
    const big = await request(`${f.url}/big/z`, { headers: { 'accept-encoding': 'gzip;q=0.5, zstd' }, timeoutMs: 60_000 });
    assert.equal(big.headers['content-encoding'], 'zstd');
    assert.equal(big.headers['transfer-encoding'], 'chunked');
    assert.ok(decode('zstd', big.body).equals(BODY), 'the streamed body decodes byte-exact');
    const small = await request(`${f.url}/small?length=1`, { headers: { 'accept-encoding': 'zstd' } });
    assert.equal(small.headers['content-encoding'], 'zstd');
    assert.equal(small.headers['content-length'], String(small.body.length));
    assert.ok(decode('zstd', small.body).equals(SMALL), 'the whole body decodes byte-exact');
  });

  it('compresses a body above maxBytes as it streams, and keeps one of a known length within it whole', async () => {
    const big = await request(`${f.url}/big/x?length=1`, { headers: { 'accept-encoding': 'gzip' }, timeoutMs: 60_000 });
    assert.equal(big.headers['content-encoding'], 'gzip');
    assert.equal(big.headers['transfer-encoding'], 'chunked', 'a Content-Length above maxBytes is replaced by chunked framing');
    assert.ok(decode('gzip', big.body).equals(BODY));
    const small = await request(`${f.url}/small?length=1`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(small.headers['content-encoding'], 'gzip');
    assert.equal(small.headers['content-length'], String(small.body.length), 'compressed whole, with its new length');
    assert.ok(decode('gzip', small.body).equals(SMALL));
  });

  it('a client that stops reading makes the server block (back-pressure through the compressor)', async () => {
    const sock = net.connect(f.port, '127.0.0.1');
    let got = 0;
    sock.on('data', (d: Buffer) => (got += d.length));
    sock.write('GET /endless HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n');
    await until(() => got > 256 * 1024, 10_000, 'the response to flow');
    sock.pause();
    // the server writes until the buffers on the way fill up, then stops
    let last = -1;
    let stableSince = Date.now();
    await until(
      () => {
        if (slowWritten !== last) {
          last = slowWritten;
          stableSince = Date.now();
        }
        return Date.now() - stableSince > 700;
      },
      20_000,
      'the server to stop writing',
    );
    const whilePaused = slowWritten;
    // kernel socket buffers on both hops hold a few MiB; fulcrum holds at most two staged reads and their output
    assert.ok(whilePaused < 48 * MIB, `the server wrote ${(whilePaused / MIB).toFixed(1)} MiB while the client read nothing`);
    sock.resume();
    await until(() => slowWritten > whilePaused + 4 * MIB, 20_000, 'the server to write again once the client reads');
    sock.destroy();
    await until(() => slowClosed, 10_000, 'the server response to be closed when the client left');
  });

  it('flushes each server-sent event at once', async () => {
    const events: string[] = [];
    let encoding: string | undefined;
    const req = http.get(`${f.url}/sse`, { agent: false, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      encoding = res.headers['content-encoding'];
      const gunzip = zlib.createGunzip();
      res.pipe(gunzip);
      let text = '';
      gunzip.on('data', (d: Buffer) => {
        text += d.toString();
        let i: number;
        while ((i = text.indexOf('\n\n')) !== -1) {
          events.push(text.slice(0, i));
          text = text.slice(i + 2);
        }
      });
    });
    await until(() => sse !== null, 5000, 'the event stream to start');
    // each event is sent only once the client decoded the one before: a held event stalls the test
    for (let i = 0; i < 5; i++) {
      sse!.write(`data: {"n":${i}}\n\n`);
      await until(() => events.length === i + 1, 5000, `event ${i} to reach the client`);
      assert.equal(events[i], `data: {"n":${i}}`);
    }
    assert.equal(encoding, 'gzip');
    sse!.end();
    req.destroy();
  });

  it('cached route: the miss and the hit are both compressed and decode to the same bytes', async () => {
    const url = `${f.url}/cached/big/doc?cache-control=max-age=60`;
    const before = await bytesCompressed(f);
    const miss = await request(url, { headers: { 'accept-encoding': 'gzip' }, timeoutMs: 60_000 });
    const hit = await request(url, { headers: { 'accept-encoding': 'gzip' }, timeoutMs: 60_000 });
    assert.match(String(miss.headers['cache-status']), /fwd=uri-miss; fwd-status=200; stored/);
    assert.match(String(hit.headers['cache-status']), /; hit;/);
    for (const r of [miss, hit] as Reply[]) {
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.headers.etag, 'W/"v1"');
    }
    assert.ok(decode('gzip', miss.body).equals(BODY), 'the miss decodes byte-exact');
    assert.ok(decode('gzip', hit.body).equals(decode('gzip', miss.body)), 'the hit decodes to the same bytes');
    assert.ok(hit.body.equals(miss.body), 'the hit is the variant the miss compressed');
    assert.equal((await bytesCompressed(f)) - before, BODY.length, 'the miss was compressed, and nothing again for the hit');
    const br = await request(url, { headers: { 'accept-encoding': 'br' }, timeoutMs: 60_000 });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.ok(decode('br', br.body).equals(BODY), 'another encoding: compressed once from the stored body');
    const plain = await request(url);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.equals(BODY));
    assert.equal(o.requests.filter((r) => r.url!.startsWith('/cached/big/doc')).length, 1, 'one fill');
  });

  it('never compresses a body with Content-Encoding, no-transform, a 206, HEAD, 204 or 304 (chunked or not)', async () => {
    const cases: [string, string, number, string | undefined][] = [
      ['GET', '/small?content-encoding=identity-x', 200, 'identity-x'],
      ['GET', '/small?cache-control=no-transform', 200, undefined],
      ['GET', '/small?status=206&content-range=bytes 0-39999/80000', 206, undefined],
      ['HEAD', '/small', 200, undefined],
      ['HEAD', '/big/x?length=1', 200, undefined],
      ['GET', '/small?status=204', 204, undefined],
      ['GET', '/small?status=304', 304, undefined],
    ];
    for (const [method, path, status, encoding] of cases) {
      const r = await request(f.url + path, { method, headers: { 'accept-encoding': 'gzip, br' } });
      assert.equal(r.status, status, path);
      assert.equal(r.headers['content-encoding'], encoding, `${method} ${path}`);
      if (method === 'GET' && status < 204) assert.ok(r.body.equals(SMALL), path);
      if (method === 'HEAD' && path.includes('length')) assert.equal(r.headers['content-length'], String(BODY.length), 'HEAD keeps the length');
    }
  });
});
