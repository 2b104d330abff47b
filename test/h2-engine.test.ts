/**
 * HTTP/2 to clients (src/worker/h2/), in process on the engine's listeners with the engine's test
 * handler (test/helpers/engine.ts): the request as the handler sees it (pseudo-header fields,
 * :authority and Host, cookies, bodies), responses and their framing, back-pressure, resets both
 * ways, requests refused per RFC 9113 8.2.2 and 8.3 (raw frames, since node:http2 will not send
 * them), h2c with prior knowledge beside HTTP/1.1 on one plain port, ALPN choices, the idle
 * timeout and draining.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import tls from 'node:tls';
import { MALFORMED, readRequest, type RequestOut } from '../src/worker/h2/h2-request.js';
import { createH2Handler, type H2Front } from '../src/worker/h2/h2-front.js';
import { H2_DEFAULTS, type H2Options } from '../src/worker/h2/h2-options.js';
import { ENGINE_DEFAULTS } from '../src/worker/engine/engine-options.js';
import { type EngineHarness, type HarnessOptions, RawClient, startEngine } from './helpers/engine.js';
import { Frame, frame, h2connect, h2request, RawH2 } from './helpers/h2.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

interface H2Harness {
  e: EngineHarness;
  front: H2Front;
  url: string;
}

async function startH2(o: HarnessOptions & { h2?: Partial<H2Options> }, secure: boolean): Promise<H2Harness> {
  let front: H2Front | null = null;
  const { h2, ...rest } = o;
  const e = await startEngine({ ...rest, otherProtocol: (s) => front!.accept(s) });
  front = createH2Handler(e.listener.handler, () => ({ ...H2_DEFAULTS, ...h2, engine: e.listener.options }));
  return { e, front, url: `${secure ? 'https' : 'http'}://127.0.0.1:${e.port}` };
}

function echo(r: { body: Buffer }): Record<string, unknown> & { fields: string[] } {
  return JSON.parse(r.body.toString());
}

describe('h2: mapping a request (readRequest)', () => {
  const limits = ENGINE_DEFAULTS.limits;
  const read = (raw: string[], end = true, connectProtocol = true) => {
    const out: RequestOut = { method: '', target: '', fields: [], bodyLength: 0, tunnel: false };
    return { status: readRequest(raw, end, limits, connectProtocol, out), out };
  };
  const base = [':method', 'GET', ':scheme', 'https', ':authority', 'a.test', ':path', '/p?q'];

  it(':authority becomes host (first), cookies are joined with "; "', () => {
    const { status, out } = read([...base, 'cookie', 'a=1', 'x', 'y', 'cookie', 'b=2']);
    assert.equal(status, 0);
    assert.equal(out.method, 'GET');
    assert.equal(out.target, '/p?q');
    assert.deepEqual(out.fields, ['host', 'a.test', 'x', 'y', 'cookie', 'a=1; b=2']);
    assert.equal(out.bodyLength, 0);
  });

  it('Host alone is kept; a Host that disagrees with :authority, or neither, is 400', () => {
    assert.deepEqual(read([':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'h.test']).out.fields, ['host', 'h.test']);
    assert.equal(read([...base, 'host', 'A.TEST']).status, 0);
    assert.equal(read([...base, 'host', 'b.test']).status, 400);
    assert.equal(read([':method', 'GET', ':scheme', 'https', ':path', '/']).status, 400);
    assert.equal(read([':method', 'GET', ':scheme', 'https', ':authority', 'u@a.test', ':path', '/']).status, 400);
  });

  it('connection-specific fields are 400 (RFC 9113 8.2.2); TE only "trailers"', () => {
    for (const [n, v] of [
      ['connection', 'close'],
      ['keep-alive', '5'],
      ['proxy-connection', 'x'],
      ['transfer-encoding', 'chunked'],
      ['upgrade', 'websocket'],
      ['te', 'gzip'],
    ])
      assert.equal(read([...base, n!, v!]).status, 400, n);
    assert.equal(read([...base, 'te', 'trailers']).status, 0);
  });

  it('pseudo-header rules (8.3): missing ones, late ones, :protocol, CONNECT, OPTIONS *', () => {
    assert.equal(read([':method', 'GET', ':authority', 'a', ':path', '/']).status, 400, 'no :scheme');
    assert.equal(read([':method', 'GET', ':scheme', 'https', ':authority', 'a']).status, 400, 'no :path');
    assert.equal(read(['x', 'y', ...base]).status, 400, 'pseudo after regular');
    assert.equal(read([...base, ':protocol', 'websocket']).status, MALFORMED, ':protocol on GET');
    assert.equal(read([':method', 'CONNECT', ':authority', 'a:443']).status, 405);
    assert.equal(read([':method', 'OPTIONS', ':scheme', 'https', ':authority', 'a', ':path', '*']).status, 0);
    assert.equal(read([':method', 'GET', ':scheme', 'https', ':authority', 'a', ':path', '*']).status, 400);
  });

  it('extended CONNECT (RFC 8441): a WebSocket tunnel; other protocols 501; malformed without the setting or a pseudo-header', () => {
    const ws = [':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':authority', 'a.test', ':path', '/chat?x=1'];
    const { status, out } = read([...ws, 'sec-websocket-version', '13', 'sec-websocket-protocol', 'chat'], false);
    assert.equal(status, 0);
    assert.equal(out.tunnel, true);
    assert.equal(out.method, 'CONNECT');
    assert.equal(out.target, '/chat?x=1');
    assert.deepEqual(out.fields, ['host', 'a.test', 'sec-websocket-version', '13', 'sec-websocket-protocol', 'chat']);
    assert.equal(out.bodyLength, -1);
    assert.equal(read(ws, false, false).status, MALFORMED, 'SETTINGS_ENABLE_CONNECT_PROTOCOL not announced');
    assert.equal(read([':method', 'CONNECT', ':protocol', 'foo', ':scheme', 'https', ':authority', 'a', ':path', '/'], false).status, 501);
    assert.equal(
      read([':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':path', '/', 'host', 'a'], false).status,
      MALFORMED,
      'no :authority',
    );
    assert.equal(read([':method', 'CONNECT', ':protocol', 'websocket', ':authority', 'a', ':path', '/'], false).status, MALFORMED, 'no :scheme');
    assert.equal(read([':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':authority', 'a'], false).status, MALFORMED, 'no :path');
    assert.equal(read(ws, true).status, 400, 'ended at once');
    assert.equal(read([':method', 'CONNECT', ':authority', 'a:443']).out.tunnel, false);
  });

  it('body length from Content-Length or END_STREAM; limits as for HTTP/1.1', () => {
    assert.equal(read([...base, 'content-length', '5'], false).out.bodyLength, 5);
    assert.equal(read(base, false).out.bodyLength, -1);
    assert.equal(read([...base, 'content-length', 'x'], false).status, 400);
    assert.equal(read([...base, 'content-length', '5', 'content-length', '6'], false).status, 400);
    assert.equal(read([...base, 'content-length', String(limits.maxBodyBytes + 1)], false).status, 413);
    assert.equal(read([':method', 'GET', ':scheme', 'https', ':authority', 'a', ':path', '/' + 'x'.repeat(limits.maxUrlBytes)]).status, 414);
    const many: string[] = [];
    for (let i = 0; i <= limits.maxHeaders; i++) many.push('x-' + i, 'v');
    assert.equal(read([...base, ...many]).status, 431);
  });
});

/** every suite below runs on both HTTP/2 implementations (http2.implementation) */
for (const implementation of ['node', 'fulcrum'] as const) {
  const start = (o: HarnessOptions & { h2?: Partial<H2Options> }, secure: boolean) => startH2({ ...o, h2: { ...o.h2, implementation } }, secure);

  describe(`h2: over TLS (${implementation})`, { skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)' }, () => {
    let h: H2Harness;
    let s: http2.ClientHttp2Session;
    before(async () => {
      const dir = mkdtempSync(`${os.tmpdir()}/fulcrum-h2-`);
      const { cert, key } = makeCert(dir, 'a.test');
      const ctx = tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
      h = await start({ tls: { default: ctx, byName: new Map() }, limits: { maxBodyBytes: 100000 } }, true);
      s = await h2connect(h.url);
    });
    after(async () => {
      s.close();
      await h.e.close();
    });

    it('a GET reaches the handler as HTTP/2, secure, with :authority as host and cookies joined', async () => {
      const r = await h2request(s, { ':path': '/x?y=1', cookie: ['a=1', 'b=2'], 'x-a': 'b' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(r.body.length));
      assert.ok(r.headers.date);
      const e = echo(r);
      assert.equal(e.method, 'GET');
      assert.equal(e.target, '/x?y=1');
      assert.equal(e.httpVersion, 'HTTP/2');
      assert.equal(e.secure, true);
      assert.deepEqual(e.fields, ['host', `127.0.0.1:${h.e.port}`, 'x-a', 'b', 'cookie', 'a=1; b=2']);
    });

    it('request bodies: with Content-Length, and of unknown length', async () => {
      const a = echo(await h2request(s, { ':method': 'POST', ':path': '/p', 'content-length': '5' }, 'hello'));
      assert.equal(a.bodyLength, 5);
      assert.equal(a.body, 'hello');
      const big = Buffer.alloc(70000, 'z'); // over the initial window: flow control must open up
      const b = echo(await h2request(s, { ':method': 'POST', ':path': '/p' }, big));
      assert.equal(b.bodyLength, -1);
      assert.equal(b.body, big.toString());
    });

    it('a body paused and resumed by the handler arrives whole', async () => {
      const body = Buffer.alloc(90000, 'q');
      const r = echo(await h2request(s, { ':method': 'POST', ':path': '/pause-body' }, body));
      assert.equal(r.body, body.toString());
    });

    it('a body over limits.maxBodyBytes without Content-Length: 413 and the stream ends', async () => {
      const r = await h2request(s, { ':method': 'POST', ':path': '/p' }, Buffer.alloc(150000, 'x'));
      assert.equal(r.status, 413);
    });

    it('responses: a known length, an unknown length, 204, 103 Early Hints, HEAD', async () => {
      const a = await h2request(s, { ':path': '/length/5000' });
      assert.equal(a.body.length, 5000);
      assert.equal(a.headers['content-length'], '5000');
      const b = await h2request(s, { ':path': '/stream/5/1000' });
      assert.equal(b.body.length, 5000);
      assert.equal(b.headers['content-length'], undefined);
      const c = await h2request(s, { ':path': '/status/204' });
      assert.equal(c.status, 204);
      assert.equal(c.body.length, 0);
      const hints: number[] = [];
      const st = s.request({ ':path': '/hints' });
      st.on('headers', (hh) => hints.push(Number(hh[':status'])));
      st.resume();
      await new Promise((r) => st.on('end', r));
      assert.deepEqual(hints, [103]);
      const d = await h2request(s, { ':method': 'HEAD', ':path': '/length/300' });
      assert.equal(d.headers['content-length'], '300');
      assert.equal(d.body.length, 0);
    });

    it('a large response: write() says false, onClientWritable follows, every byte arrives', async () => {
      const before = h.e.seen.length;
      const r = await h2request(s, { ':path': '/big/2000000' });
      assert.equal(r.body.length, 2000000);
      const seen = h.e.seen[before]!;
      assert.equal(seen.writeReturnedFalse, true);
      assert.equal(seen.writable, true);
    });

    it('pieces copied into reused 16 KiB buffers arrive unchanged, many streams at once', async () => {
      // each write's copy goes back to the pool at its callback: a piece reused too early would show another stream's letter
      const want = (n: number, size: number) => Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.alloc(size, 97 + (i % 26))));
      for (const [n, size] of [
        [6, 9000],
        [4, 16384],
      ] as const) {
        const rs = await Promise.all(Array.from({ length: 40 }, () => h2request(s, { ':path': `/stream/${n}/${size}` })));
        for (const r of rs) assert.ok(r.body.equals(want(n, size)), `a /stream/${n}/${size} body arrived changed`);
      }
    });

    it('50 concurrent streams on one connection, one TLS connection at the listener', async () => {
      const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => h2request(s, { ':path': `/delay/${i % 5}?i=${i}` })));
      assert.deepEqual(
        rs.map((r) => echo(r).target),
        Array.from({ length: 50 }, (_, i) => `/delay/${i % 5}?i=${i}`),
      );
      assert.equal(h.front.connections, 1);
      assert.equal(h.e.listener.connections, 0, 'no HTTP/1.1 connection');
    });

    it('a slow stream does not hold up the others', async () => {
      const slow = s.request({ ':path': '/big/3000000' });
      slow.pause(); // never read: its window fills
      await new Promise((r) => setTimeout(r, 100));
      const r = await h2request(s, { ':path': '/fast' });
      assert.equal(r.status, 200);
      slow.destroy(); // close() would leave node's client stream waiting for the paused body
    });

    it('abort() resets the stream with INTERNAL_ERROR', async () => {
      await assert.rejects(h2request(s, { ':path': '/abort' }), (err: NodeJS.ErrnoException) => err.code === 'ERR_HTTP2_STREAM_ERROR');
    });

    it('a client that resets its stream is onClientAborted', async () => {
      const before = h.e.seen.length;
      const st = s.request({ ':path': '/delay/300' });
      st.on('error', () => {});
      await new Promise((r) => setTimeout(r, 100));
      st.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(h.e.seen[before]!.aborted, true);
    });

    it('no tunnels over HTTP/2: detach() is null (the test handler then aborts)', async () => {
      await assert.rejects(h2request(s, { ':path': '/upgrade' }));
    });

    it('CONNECT is 405', async () => {
      const st = s.request({ ':method': 'CONNECT', ':authority': 'a.test:443' });
      const status = await new Promise((r) => st.on('response', (hh) => r(hh[':status'])));
      assert.equal(status, 405);
      st.close();
    });

    it('raw frames: connection-specific fields and :authority/Host disagreement are refused, the connection lives on', async () => {
      const c = await RawH2.open(h.e.port, true);
      const req = (extra: [string, string][]): [string, string][] => [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'a.test'],
        [':path', '/'],
        ...extra,
      ];
      c.request(1, req([['connection', 'keep-alive']]));
      c.request(3, req([['host', 'b.test']]));
      c.request(5, req([['te', 'gzip']]));
      c.request(7, req([]));
      // each refused stream gets RST_STREAM (nghttp2's own check) or a 400 HEADERS (index 12 = :status 400, RFC 7541 A)
      const refused = (id: number) =>
        c.frames.some((f) => f.stream === id && (f.type === Frame.RstStream || (f.type === Frame.Headers && f.payload[0] === 0x8c)));
      const ok = () => c.frames.some((f) => f.stream === 7 && f.type === Frame.Headers && f.payload[0] === 0x88);
      await c.until(() => refused(1) && refused(3) && refused(5) && ok(), 3000, 'three refusals and one 200');
      assert.equal(c.goaway(), null);
      c.destroy();
    });
  });

  describe(`h2c with prior knowledge on the plain listener (${implementation})`, () => {
    let h: H2Harness;
    before(async () => {
      h = await start({ h2c: true }, false);
    });
    after(() => h.e.close());

    it('the preface goes to HTTP/2, HTTP/1.1 to the engine, on one port', async () => {
      const s = await h2connect(h.url);
      const r = await h2request(s, { ':path': '/c', ':method': 'POST' }, 'body');
      const e = echo(r);
      assert.equal(e.httpVersion, 'HTTP/2');
      assert.equal(e.secure, false);
      assert.equal(e.body, 'body');
      s.close();
      const c = await RawClient.open(h.e.port);
      c.send('GET /one HTTP/1.1\r\nHost: a\r\n\r\n');
      const [one] = await c.responses(1);
      assert.equal(JSON.parse(one!.body.toString()).httpVersion, 'HTTP/1.1');
      c.destroy();
    });

    it('a preface that arrives byte by byte is still recognised; a near miss is HTTP/1.1', async () => {
      const c = await RawH2.open(h.e.port, false).catch(() => null);
      assert.ok(c);
      c.destroy();
      const raw = await RawClient.open(h.e.port);
      for (const ch of 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') {
        raw.send(ch);
        await new Promise((r) => setTimeout(r, 2));
      }
      raw.send(frame(Frame.Settings, 0, 0));
      await raw.until((x) => x.data.length >= 9 && x.data[3] === Frame.Settings, 2000, 'the server SETTINGS');
      raw.destroy();
      const miss = await RawClient.open(h.e.port);
      miss.send('PRI * HTTP/1.1\r\nHost: a\r\n\r\n');
      await miss.until((x) => x.data.toString().startsWith('HTTP/1.1 '), 2000, 'an HTTP/1.1 answer');
      miss.destroy();
    });
  });

  describe(`h2c off (the default): the preface is not sniffed (${implementation})`, () => {
    it('the HTTP/1.1 engine answers it as a bad request', async () => {
      const h = await start({}, false);
      const c = await RawClient.open(h.e.port);
      c.send(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(Frame.Settings, 0, 0)]));
      await c.until((x) => x.data.toString().startsWith('HTTP/1.1 '), 2000, 'an HTTP/1.1 answer');
      assert.equal(h.front.connections, 0);
      c.destroy();
      await h.e.close();
    });
  });

  describe(`h2: ALPN, idle timeout, drain (${implementation})`, {
    skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)',
  }, () => {
    let ctx: tls.SecureContext;
    before(() => {
      const dir = mkdtempSync(`${os.tmpdir()}/fulcrum-h2-`);
      const { cert, key } = makeCert(dir, 'a.test');
      ctx = tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    });

    const alpnOf = (port: number, offer: string[]) =>
      new Promise<string | false | null>((resolve, reject) => {
        const t = tls.connect({ port, host: '127.0.0.1', ALPNProtocols: offer, rejectUnauthorized: false }, () => {
          resolve(t.alpnProtocol);
          t.end(); // not destroy(): a server that has not seen the client's Finished yet waits out headerMs
        });
        t.on('error', reject);
      });

    it('options.alpn orders the protocols; without "h2" HTTP/2 is not offered', async () => {
      const a = await start({ tls: { default: ctx, byName: new Map() } }, true);
      assert.equal(await alpnOf(a.e.port, ['http/1.1', 'h2']), 'h2');
      await a.e.close();
      const b = await start({ tls: { default: ctx, byName: new Map() }, alpn: ['http/1.1', 'h2'] }, true);
      assert.equal(await alpnOf(b.e.port, ['h2', 'http/1.1']), 'http/1.1');
      await b.e.close();
      const c = await start({ tls: { default: ctx, byName: new Map() }, alpn: ['http/1.1'] }, true);
      assert.equal(await alpnOf(c.e.port, ['h2', 'http/1.1']), 'http/1.1');
      await c.e.close();
    });

    it('an idle connection is closed after keepAliveMs with GOAWAY NO_ERROR', async () => {
      const h = await start({ tls: { default: ctx, byName: new Map() }, keepAliveMs: 300 }, true);
      const c = await RawH2.open(h.e.port, true);
      c.request(1, [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'a'],
        [':path', '/'],
      ]);
      await c.until(() => c.closed, 3000, 'the idle close');
      assert.equal(c.goaway()?.code, NGHTTP2_NO_ERROR);
      assert.equal(c.goaway()?.lastStream, 1);
      await h.e.close();
    });

    it('drain: GOAWAY at once, the open stream still completes', async () => {
      const h = await start({ tls: { default: ctx, byName: new Map() } }, true);
      const s = await h2connect(h.url);
      const goaway = new Promise<number>((r) => s.once('goaway', (code) => r(code)));
      const pending = h2request(s, { ':path': '/delay/200' });
      await new Promise((r) => setTimeout(r, 50));
      h.front.drain();
      assert.equal(await goaway, NGHTTP2_NO_ERROR);
      const r = await pending;
      assert.equal(r.status, 200);
      await h.e.close();
    });
  });
}
