/**
 * fulcrum's engine, connection by connection (src/worker/engine/connection.ts, http1-exchange.ts,
 * listener.ts), on real sockets: ordering and back-pressure of pipelines, keep-alive and its
 * timeouts (counted in /metrics), bodies the handler never read, clients that leave, handlers
 * that fail, response framing and heads, write back-pressure, interim responses, tunnels
 * (detach), draining, the peer's address, and TLS (SNI, ALPN, the handshake timeout).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { validateConfig } from '../src/config/load.js';
import { counter } from '../src/worker/obs/metrics.js';
import { engineOptions } from '../src/worker/engine/engine-options.js';
import { Listener } from '../src/worker/engine/listener.js';
import { type EngineHarness, echoOf, exchange, parseResponses, RawClient, startEngine } from './helpers/engine.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';

const H = 'Host: a.test\r\n';
const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\n${H}${extra}\r\n`;
const timeouts = (kind: string) => counter('fulcrum_client_timeouts_total', '', ['kind']).labels(kind).value;
const rejections = (reason: string) => counter('fulcrum_rejections_total', '', ['reason']).labels(reason).value;

describe('engine: pipelining and keep-alive', () => {
  let e: EngineHarness;
  before(async () => {
    e = await startEngine();
  });
  after(() => e.close());

  it('answers pipelined requests in order, whatever each takes', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/delay/150') + get('/delay/10') + get('/x') + get('/delay/40'));
    const rs = await c.responses(4);
    assert.deepEqual(
      rs.map((r) => echoOf(r).target),
      ['/delay/150', '/delay/10', '/x', '/delay/40'],
    );
    c.destroy();
  });

  it('100 pipelined requests in one write (beyond the parse-ahead bound): all answered, in order', async () => {
    const c = await RawClient.open(e.port);
    let all = '';
    for (let i = 0; i < 100; i++) all += get(`/p${i}`);
    c.send(all);
    const rs = await c.responses(100, [], 5000);
    assert.deepEqual(
      rs.map((r) => echoOf(r).target),
      Array.from({ length: 100 }, (_, i) => `/p${i}`),
    );
    c.destroy();
  });

  it('pipelined requests with bodies, read late by the handler, between GETs', async () => {
    const c = await RawClient.open(e.port);
    c.send(
      get('/delay/50') +
        `POST /a HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc` +
        get('/b') +
        `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n`,
    );
    const rs = await c.responses(4);
    assert.deepEqual(
      rs.map((r) => [echoOf(r).target, echoOf(r).body]),
      [
        ['/delay/50', ''],
        ['/a', 'abc'],
        ['/b', ''],
        ['/c', 'de'],
      ],
    );
    c.destroy();
  });

  it('a request body paused and resumed by the handler arrives whole', async () => {
    const c = await RawClient.open(e.port);
    c.send(`POST /pause-body HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
    for (let i = 0; i < 5; i++) {
      c.send(`3\r\nab${i}\r\n`);
      await new Promise((r) => setTimeout(r, 10));
    }
    c.send('0\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(echoOf(r!).body, 'ab0ab1ab2ab3ab4');
    c.destroy();
  });

  it("a client's FIN with a request in flight means it left: the handler is told, the connection closes (as nginx)", async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/1'));
    await c.responses(1);
    c.send(get('/delay/300?fin'));
    await new Promise((r) => setTimeout(r, 50));
    c.end();
    await c.waitClosed();
    assert.equal(parseResponses(c.data).responses.length, 1);
    const s = e.seen.find((x) => x.target === '/delay/300?fin')!;
    assert.equal(s.aborted, true);
  });

  it("a client's FIN on an idle connection: the connection closes", async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/1'));
    await c.responses(1);
    c.end();
    await c.waitClosed();
  });

  it('a small body the handler never read is dropped and the connection kept', async () => {
    const c = await RawClient.open(e.port);
    c.send(`POST /noread HTTP/1.1\r\n${H}Content-Length: 2000\r\n\r\n${'x'.repeat(2000)}` + get('/next'));
    const rs = await c.responses(2);
    assert.equal(rs[0]!.body.toString(), 'ok');
    assert.equal(rs[0]!.headers.connection, undefined);
    assert.equal(echoOf(rs[1]!).target, '/next');
    c.destroy();
  });

  it('an unread body larger than discardBodyBytes: the answer says close, and the connection closes', async () => {
    const c = await RawClient.open(e.port);
    const n = 2 * 1024 * 1024;
    c.send(`POST /noread HTTP/1.1\r\n${H}Content-Length: ${n}\r\n\r\n`);
    c.send(Buffer.alloc(n, 'x'));
    await c.waitClosed(5000);
    const rs = parseResponses(c.data).responses;
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.headers.connection, 'close');
    assert.equal(c.reset, false, 'closed after the client could read the answer, not reset');
  });

  it('an unread chunked body is dropped up to discardBodyBytes, then the connection closes', async () => {
    const d = await startEngine({ discardBodyBytes: 10000 });
    try {
      const c = await RawClient.open(d.port);
      c.send(`POST /noread HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
      for (let i = 0; i < 30; i++) c.send(`3e8\r\n${'y'.repeat(1000)}\r\n`);
      await c.waitClosed();
      const rs = parseResponses(c.data).responses;
      assert.equal(rs.length, 1);
      assert.equal(rs[0]!.body.toString(), 'ok');
    } finally {
      await d.close();
    }
  });

  it('keeps an idle connection for keepAliveMs, then closes it without a response (counted)', async () => {
    const d = await startEngine({ keepAliveMs: 500 });
    try {
      const before = timeouts('keep-alive');
      const c = await RawClient.open(d.port);
      c.send(get('/1'));
      await c.responses(1);
      const t0 = performance.now();
      await c.waitClosed(3000);
      const ms = performance.now() - t0;
      assert.ok(ms >= 200 && ms < 1500, `closed after ${ms.toFixed(0)} ms`);
      assert.equal(parseResponses(c.data).responses.length, 1);
      assert.equal(timeouts('keep-alive'), before + 1);
    } finally {
      await d.close();
    }
  });

  it('a new connection that sends nothing is closed after headerMs (counted as header)', async () => {
    const d = await startEngine({ headerMs: 500 });
    try {
      const before = timeouts('header');
      const c = await RawClient.open(d.port);
      await c.waitClosed(3000);
      assert.equal(c.data.length, 0);
      assert.equal(timeouts('header'), before + 1);
    } finally {
      await d.close();
    }
  });

  it('a head not complete in headerMs: 408 and close (counted as header, and as a rejection)', async () => {
    const d = await startEngine({ headerMs: 500 });
    try {
      const t = timeouts('header');
      const r = rejections('timeout');
      const c = await RawClient.open(d.port);
      c.send('GET / HTTP/1.1\r\nHost: a');
      await c.waitClosed(3000);
      assert.equal(parseResponses(c.data).responses[0]!.status, 408);
      assert.equal(timeouts('header'), t + 1);
      assert.equal(rejections('timeout'), r + 1);
    } finally {
      await d.close();
    }
  });

  it('counts requests the parser refuses in fulcrum_rejections_total', async () => {
    const p = rejections('parse');
    const s = rejections('size');
    await exchange(e.port, 'GET / HTTP/1.1\r\n\r\n');
    await exchange(e.port, `GET /${'a'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`);
    assert.equal(rejections('parse'), p + 1);
    assert.equal(rejections('size'), s + 1);
  });
});

describe('engine: responses', () => {
  let e: EngineHarness;
  before(async () => {
    e = await startEngine();
  });
  after(() => e.close());

  it('a response head carries Date and the framing, and no engine header of any kind', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/x'));
    const [r] = await c.responses(1);
    assert.deepEqual(Object.keys(r!.headers).sort(), ['content-length', 'content-type', 'date']);
    assert.match(r!.headers.date!, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.ok(r!.head.startsWith('HTTP/1.1 200 OK\r\n'));
    c.destroy();
  });

  it('204 and 304 carry no body and no framing; the connection stays usable', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/status/204') + get('/status/304') + get('/after'));
    const rs = await c.responses(3);
    assert.deepEqual(
      rs.map((r) => [r.status, r.headers['content-length'], r.headers['transfer-encoding'], r.body.length]),
      [
        [204, undefined, undefined, 0],
        [304, undefined, undefined, 0],
        [200, rs[2]!.headers['content-length'], undefined, rs[2]!.body.length],
      ],
    );
    c.destroy();
  });

  it('a response written in pieces with Content-Length arrives whole', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/length/25000'));
    const [r] = await c.responses(1);
    assert.equal(r!.headers['content-length'], '25000');
    assert.equal(r!.body.length, 25000);
    c.destroy();
  });

  it('103 Early Hints before the answer on HTTP/1.1, not on HTTP/1.0', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/hints'));
    const rs = await c.responses(1);
    assert.deepEqual(
      rs.map((r) => r.status),
      [103, 200],
    );
    assert.equal(rs[0]!.headers.link, '</a.css>; rel=preload');
    c.destroy();
    const old = await exchange(e.port, 'GET /hints HTTP/1.0\r\n\r\n');
    assert.deepEqual(
      old.responses.map((r) => r.status),
      [200],
    );
  });

  it('a handler that asks to close: Connection: close, and the connection closes', async () => {
    const r = await exchange(e.port, get('/close') + get('/never'));
    assert.equal(r.closed, true);
    assert.deepEqual(
      r.responses.map((x) => [echoOf(x).target, x.headers.connection]),
      [['/close', 'close']],
    );
  });

  it('a client that asks to close: its answer, then a clean close; with bytes after its request, still no reset', async () => {
    // nothing after the request: closed at once after the response (no lingering needed)
    const c = await RawClient.open(e.port);
    c.send(get('/bye', 'Connection: close\r\n'));
    await c.waitClosed();
    const alone = parseResponses(c.data, [], true).responses;
    assert.deepEqual(
      alone.map((x) => [echoOf(x).target, x.headers.connection]),
      [['/bye', 'close']],
    );
    assert.equal(c.reset, false);
    // a request sent after it in the same write is never answered, and the close lingers so that
    // the client reads its answer instead of a reset
    const d = await RawClient.open(e.port);
    d.send(get('/bye', 'Connection: close\r\n') + get('/never'));
    await d.waitClosed();
    assert.deepEqual(
      parseResponses(d.data, [], true).responses.map((x) => echoOf(x).target),
      ['/bye'],
    );
    assert.equal(d.reset, false);
  });

  it('a handler that throws: 500 and close', async () => {
    const r = await exchange(e.port, get('/throw'));
    assert.equal(r.closed, true);
    assert.equal(r.responses[0]!.status, 500);
    assert.equal(r.responses[0]!.headers.connection, 'close');
  });

  it('abort() mid-body: the client sees the connection cut, never a complete response', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/abort'));
    await c.waitClosed();
    const text = c.data.toString('latin1');
    assert.match(text, /content-length: 100/);
    assert.ok(c.data.length - (text.indexOf('\r\n\r\n') + 4) < 100);
    assert.equal(parseResponses(c.data, [], false).responses.length, 0);
  });

  it('a client that leaves mid-response: the handler is told (onClientAborted)', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/delay/300?leave'));
    await new Promise((r) => setTimeout(r, 50));
    c.destroy();
    const s = e.seen.find((x) => x.target === '/delay/300?leave')!;
    for (let i = 0; i < 50 && !s.aborted; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.aborted, true);
  });

  it('write back-pressure: false while the client does not read, onClientWritable once it has', async () => {
    const c = await RawClient.open(e.port);
    c.socket.pause();
    c.send(get('/big/8000000'));
    const s = await (async () => {
      for (let i = 0; i < 100; i++) {
        const x = e.seen.find((y) => y.target === '/big/8000000');
        if (x) return x;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('request not seen');
    })();
    assert.equal(s.writeReturnedFalse, true);
    assert.equal(s.writable, false);
    c.socket.resume();
    await c.until((x) => x.data.length >= 8000000, 5000, 'the whole body');
    for (let i = 0; i < 50 && !s.writable; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.writable, true);
    c.destroy();
  });

  it('exchange.field joins repeated fields with ", " and cookies with "; "', async () => {
    const seen: string[] = [];
    const l = new Listener({
      host: '127.0.0.1',
      port: 0,
      options: engineOptions(validateConfig({ upstreams: { a: { servers: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ upstream: 'a' }] }).raw),
      handler: (ex) => {
        seen.push(ex.field('Accept'), ex.field('cookie'), ex.field('x-none'));
        ex.respond(204, 'No Content', [], null, false);
      },
    });
    await l.listen();
    try {
      await exchange(l.port, get('/', 'Accept: a\r\nCookie: x=1\r\naccept: b\r\nCookie: y=2\r\nConnection: close\r\n'));
      assert.deepEqual(seen, ['a, b', 'x=1; y=2', '']);
    } finally {
      l.drain();
      await l.close();
    }
  });
});

describe('engine: tunnels, draining, addresses', () => {
  let e: EngineHarness;
  before(async () => {
    e = await startEngine();
  });
  after(() => e.close());

  it('Upgrade: 101, then detach() hands over the socket with the bytes sent after the head', async () => {
    const c = await RawClient.open(e.port);
    c.send(get('/upgrade', 'Upgrade: test\r\nConnection: Upgrade\r\n') + 'hello');
    await c.until((x) => x.data.includes('HELLO'), 3000, 'the tunnel echo');
    const text = c.data.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(text, /\r\nconnection: upgrade\r\n/);
    c.send(' and more');
    await c.until((x) => x.data.includes('HELLO AND MORE'), 3000, 'more tunnel bytes');
    c.end();
    await c.waitClosed();
  });

  it('an Upgrade answered with anything but 101 closes the connection after the answer', async () => {
    const r = await exchange(e.port, get('/x', 'Upgrade: test\r\nConnection: upgrade\r\n') + get('/never'));
    assert.equal(r.closed, true);
    assert.deepEqual(
      r.responses.map((x) => [x.status, x.headers.connection]),
      [[200, 'close']],
    );
  });

  it('Upgrade on HTTP/1.0 is ignored (RFC 9110 7.8): a plain request', async () => {
    const r = await exchange(e.port, 'GET /upgrade HTTP/1.0\r\nUpgrade: test\r\nConnection: upgrade\r\n\r\n');
    assert.equal(r.responses.length, 0); // the test handler aborts when detach() refuses
    assert.ok(e.seen.some((s) => s.target === '/upgrade' && s.httpVersion === 'HTTP/1.0' && s.aborted));
  });

  it('CONNECT when allowed: the handler gets the authority as target', async () => {
    const d = await startEngine({ limits: { connect: true } });
    try {
      const r = await exchange(d.port, `CONNECT a.test:443 HTTP/1.1\r\n${H}\r\n`);
      assert.equal(d.seen[0]!.method, 'CONNECT');
      assert.equal(d.seen[0]!.target, 'a.test:443');
      assert.equal(r.closed, true); // answered 200 without detach(): closed
    } finally {
      await d.close();
    }
  });

  it('drain(): kept-alive idle connections close at once; new ones get their first answer with Connection: close', async () => {
    const d = await startEngine();
    try {
      const idle = await RawClient.open(d.port);
      idle.send(get('/1'));
      await idle.responses(1);
      d.listener.drain();
      await idle.waitClosed(1000);
      const late = await exchange(d.port, get('/2') + get('/3'));
      assert.deepEqual(
        late.responses.map((r) => [echoOf(r).target, r.headers.connection, echoOf(r).closing]),
        [['/2', 'close', true]],
      );
    } finally {
      await d.close();
    }
  });

  it('close() stops accepting', async () => {
    const d = await startEngine();
    await d.close();
    await assert.rejects(RawClient.open(d.port));
  });

  it('configure() applies new limits from the next request on', async () => {
    const d = await startEngine();
    try {
      const c = await RawClient.open(d.port);
      c.send(get('/' + 'a'.repeat(100)));
      await c.responses(1);
      d.listener.configure({ ...d.listener.options, limits: { ...d.listener.options.limits, maxUrlBytes: 50 } });
      c.send(get('/' + 'a'.repeat(100)));
      await c.waitClosed();
      assert.deepEqual(
        parseResponses(c.data).responses.map((r) => r.status),
        [200, 414],
      );
    } finally {
      await d.close();
    }
  });

  it('the peer address is read once per connection; IPv4-mapped IPv6 is shown as IPv4', async (t) => {
    const l = new Listener({
      host: '::',
      port: 0,
      options: e.listener.options,
      handler: (ex) => ex.respond(200, 'OK', [], `${ex.peer.ip} ${ex.peer.bytes.length}`, false),
    });
    try {
      await l.listen();
    } catch {
      t.skip('no IPv6 on this machine');
      return;
    }
    try {
      const r4 = await exchange(l.port, get('/', 'Connection: close\r\n'));
      assert.equal(r4.responses[0]!.body.toString(), '127.0.0.1 4');
      const c6 = await new Promise<net.Socket | null>((resolve) => {
        const s = net.connect(l.port, '::1', () => resolve(s));
        s.on('error', () => resolve(null));
      });
      if (c6 !== null) {
        c6.write(get('/', 'Connection: close\r\n'));
        const got = await new Promise<string>((resolve) => {
          let d = '';
          c6.on('data', (b) => (d += b.toString('latin1')));
          c6.on('close', () => resolve(d));
        });
        assert.match(got, /\r\n\r\n::1 16$/);
      }
    } finally {
      l.drain();
      await l.close();
    }
  });

  it('engineOptions reads the limits and timeouts of a config', () => {
    const cfg = validateConfig({
      upstreams: { a: { servers: [{ url: 'http://127.0.0.1:1' }] } },
      routes: [{ upstream: 'a' }],
      limits: { maxUrlBytes: 1000, maxHeaders: 20, maxHeaderBytes: 4000, maxBodyBytes: 5 },
      timeouts: { headerMs: 1234, keepAliveMs: 5678 },
    }).raw;
    const o = engineOptions(cfg);
    assert.deepEqual(o.limits, { maxUrlBytes: 1000, maxHeaders: 20, maxHeaderBytes: 4000, maxBodyBytes: 5, connect: false });
    assert.equal(o.headerMs, 1234);
    assert.equal(o.keepAliveMs, 5678);
    const d = engineOptions(validateConfig({ upstreams: { a: { servers: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ upstream: 'a' }] }).raw);
    assert.equal(d.headerMs, 10000);
    assert.equal(d.keepAliveMs, 60000);
  });
});

// ---- TLS ----------------------------------------------------------------------------------

/** makeContext makes a throwaway certificate for cn and returns its TLS context. */
function makeContext(dir: string, cn: string): tls.SecureContext {
  const { cert, key } = makeCert(dir, cn);
  return tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
}

interface TlsHello {
  cn: string;
  alpn: string | false;
  body: string;
}

function tlsGet(port: number, servername: string | undefined, alpn: string[] | undefined, target = '/t'): Promise<TlsHello> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ALPNProtocols: alpn, rejectUnauthorized: false }, () => {
      const cn = String(s.getPeerCertificate().subject?.CN);
      const alpnProtocol = s.alpnProtocol;
      s.write(`GET ${target} HTTP/1.1\r\nHost: ${servername ?? 'x'}\r\nConnection: close\r\n\r\n`);
      let d = '';
      s.on('data', (b: Buffer) => (d += b.toString('latin1')));
      s.on('end', () => resolve({ cn, alpn: alpnProtocol ?? false, body: d.slice(d.indexOf('\r\n\r\n') + 4) }));
    });
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

describe('engine: TLS', { skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)' }, () => {
  let dir: string;
  let ctx: Record<string, tls.SecureContext>;
  let e: EngineHarness;
  const h2: tls.TLSSocket[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-engine-tls-'));
    ctx = { def: makeContext(dir, 'default.test'), a: makeContext(dir, 'a.test'), star: makeContext(dir, 'star.b.test'), c: makeContext(dir, 'c.test') };
    e = await startEngine({
      headerMs: 800,
      tls: {
        default: ctx.def!,
        byName: new Map([
          ['a.test', ctx.a!],
          ['*.b.test', ctx.star!],
        ]),
      },
      otherProtocol: (s) => {
        h2.push(s as tls.TLSSocket);
        s.end();
      },
    });
  });
  after(() => e.close());

  it('SNI picks the certificate by exact name, then wildcard, then the default', async () => {
    assert.equal((await tlsGet(e.port, 'a.test', undefined)).cn, 'a.test');
    assert.equal((await tlsGet(e.port, 'A.TEST', undefined)).cn, 'a.test');
    assert.equal((await tlsGet(e.port, 'x.b.test', undefined)).cn, 'star.b.test');
    assert.equal((await tlsGet(e.port, 'x.y.b.test', undefined)).cn, 'default.test');
    assert.equal((await tlsGet(e.port, 'other.test', undefined)).cn, 'default.test');
    assert.equal((await tlsGet(e.port, undefined, undefined)).cn, 'default.test');
  });

  it('ALPN: http/1.1 is negotiated and served; the request is marked secure', async () => {
    const r = await tlsGet(e.port, 'a.test', ['http/1.1']);
    assert.equal(r.alpn, 'http/1.1');
    const echo = JSON.parse(r.body);
    assert.equal(echo.secure, true);
    assert.equal(echo.ip, '127.0.0.1');
    assert.equal(echo.target, '/t');
  });

  it('ALPN h2: the socket goes to the other-protocol hook', async () => {
    const s = tls.connect({ port: e.port, host: '127.0.0.1', servername: 'a.test', ALPNProtocols: ['h2'], rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      s.on('secureConnect', resolve);
      s.on('error', reject);
    });
    assert.equal(s.alpnProtocol, 'h2');
    for (let i = 0; i < 50 && h2.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(h2.length, 1);
    assert.equal(h2[0]!.alpnProtocol, 'h2');
    s.destroy();
  });

  it('setContexts swaps the certificates for new handshakes', async () => {
    e.listener.setContexts({ default: ctx.c!, byName: new Map([['a.test', ctx.c!]]) });
    try {
      assert.equal((await tlsGet(e.port, 'a.test', undefined)).cn, 'c.test');
    } finally {
      e.listener.setContexts({
        default: ctx.def!,
        byName: new Map([
          ['a.test', ctx.a!],
          ['*.b.test', ctx.star!],
        ]),
      });
    }
  });

  it('a tunnel over TLS: detach() hands over the TLS socket', async () => {
    const s = tls.connect({ port: e.port, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false });
    await new Promise<void>((resolve) => s.on('secureConnect', resolve));
    s.write(get('/upgrade', 'Upgrade: test\r\nConnection: upgrade\r\n') + 'wss');
    let d = '';
    s.on('data', (b: Buffer) => (d += b.toString('latin1')));
    for (let i = 0; i < 100 && !d.includes('WSS'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(d, /^HTTP\/1\.1 101 /);
    assert.ok(d.endsWith('WSS'));
    s.destroy();
  });

  it('a handshake not completed within headerMs is cut (counted as handshake)', async () => {
    const before = timeouts('handshake');
    const c = await RawClient.open(e.port);
    await c.waitClosed(3000);
    assert.equal(timeouts('handshake'), before + 1);
  });
});
