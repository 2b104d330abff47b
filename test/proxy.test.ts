/**
 * End-to-end proxying through the real process tree against real local backends.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { createOrigin, createRawOrigin, deadPort, type Origin, type RawOrigin } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';
import { rawExchange, statusOf } from './helpers/raw.js';

describe('forwarding requests and responses', () => {
  let a: Origin;
  let f: Fulcrum;
  before(async () => {
    a = await createOrigin('a', (req, res, o) => {
      const u = new URL(req.url!, 'http://x');
      switch (u.pathname) {
        case '/cookies':
          res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
          res.end('ok');
          return;
        case '/order':
          res.writeHead(200, ['X-Zeta', 'z', 'X-Alpha', 'MiXeD Case Value', 'X-Mid', 'm', 'Content-Length', '2']);
          res.end('ok');
          return;
        case '/204':
          res.writeHead(204, { 'x-kind': 'no-content' });
          res.end();
          return;
        case '/304':
          res.writeHead(304, { etag: '"v1"' });
          res.end();
          return;
        case '/digest': {
          // the SHA-256 of the body received: bodies larger than the echo shows are compared whole
          const h = createHash('sha256');
          req.on('data', (c: Buffer) => h.update(c));
          req.on('end', () => res.end(h.digest('hex')));
          return;
        }
        case '/chunked':
          res.setHeader('content-type', 'text/plain');
          res.write('hello ');
          setTimeout(() => res.end('world'), 20);
          return;
        default:
          return echoHandlerFor(o)(req, res);
      }
    });
    f = await startFulcrum(oneUpstream([a.url], { trustedProxies: ['10.0.0.0/8'] }));
  });
  after(async () => {
    await f.stop();
    await a.close();
  });

  // any token method (the uWS engine closes the connection on PROPFIND, PURGE...: README "What the uWS engine cannot do")
  const uws = process.env.FULCRUM_TEST_ENGINE === 'uws';
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', ...(uws ? [] : ['PROPFIND', 'PURGE', 'M-SEARCH'])]) {
    it(`forwards ${method} with its body`, async () => {
      const body = method === 'GET' ? undefined : `payload for ${method}`;
      const headers = body ? { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) } : {};
      const r = await request(`${f.url}/m/${method}?x=1&y=%20z`, { method, body, headers });
      assert.equal(r.status, 200);
      const e = echoed(r);
      assert.equal(e.method, method);
      assert.equal(e.url, `/m/${method}?x=1&y=%20z`);
      assert.equal(e.bodyLength, body ? Buffer.byteLength(body) : 0);
      if (body) assert.equal(e.body, body);
    });
  }

  // request bodies are copied into one recycled send buffer per worker (proxy/request-body.ts):
  // bodies of every size, on reused connections and side by side, must each arrive whole
  it('forwards concurrent request bodies intact over reused connections', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
    try {
      const sizes = [1, 700, 4096, 4097, 16_384, 70_000, 150_000, 33, 98_304, 20_000, 65_536, 5];
      const replies = await Promise.all(
        sizes.map(async (n, k) => {
          const body = Buffer.alloc(n, 97 + (k % 26));
          if (n >= 4) body.writeUInt32BE(k, n - 4); // no two bodies alike
          const r = await request(`${f.url}/digest`, { method: 'POST', body, agent, headers: { 'content-length': String(n) } });
          return { r, want: createHash('sha256').update(body).digest('hex') };
        }),
      );
      for (const { r, want } of replies) {
        assert.equal(r.status, 200);
        assert.equal(r.text, want);
      }
    } finally {
      agent.destroy();
    }
  });

  // the head leaves with the first body bytes, a chunked body connects only once its first bytes
  // arrived, bytes read before a connection are held, each piece is copied into the recycled send
  // buffer (proxy/request-body.ts): wherever the client's reads end, the server gets the body whole
  it('forwards a body split at every offset of its request, on one kept-alive connection', async () => {
    const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCD';
    // (the uWS engine closes the connection at a chunk extension: README "What the uWS engine cannot do")
    const ext = uws ? '' : ';x=y';
    const forms = [
      (d: Buffer) => Buffer.concat([Buffer.from(`POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: ${d.length}\r\n\r\n`), d]),
      (d: Buffer) =>
        Buffer.concat([
          Buffer.from('POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n'),
          d.subarray(0, 5),
          Buffer.from(`\r\n23${ext}\r\n`),
          d.subarray(5),
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
    ];
    const c = await rawConnection(f.port);
    try {
      let n = 0;
      for (const form of forms) {
        const size = form(Buffer.from(alphabet)).length;
        // every split point, then one byte per write
        for (let k = 1; k <= size; k++) {
          // a different body each time: bytes left over from the previous request would not pass
          const rot = n++ % alphabet.length;
          const data = Buffer.from(alphabet.slice(rot) + alphabet.slice(0, rot));
          const req = form(data);
          const parts = k < size ? [req.subarray(0, k), req.subarray(k)] : [...req].map((b) => Buffer.of(b));
          const what = `split ${k < size ? `at ${k}` : 'into single bytes'} of ${req.toString('latin1').split('\r\n')[2]}`;
          const want = createHash('sha256').update(data).digest('hex');
          assert.equal(await c.send(parts).catch((err: Error) => `${what}: ${err.message}`), want, what);
        }
      }
    } finally {
      c.close();
    }
  });

  it('forwards the path exactly as received, without normalising it', async () => {
    const r = await rawExchange(f.port, 'GET /a/%2e%2e/b//c/./d%2Fe?q=%41 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(r.data), 200);
    const body = r.data.toString('latin1').split('\r\n\r\n')[1]!;
    assert.equal(JSON.parse(body).url, '/a/%2e%2e/b//c/./d%2Fe?q=%41');
  });

  it('streams a chunked request body and sends it chunked upstream', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${f.url}/up`, { method: 'POST', agent: false }, (res) => {
        let b = '';
        res
          .setEncoding('utf8')
          .on('data', (d) => (b += d))
          .on('end', () => resolve({ status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
      req.write('part one, ');
      setTimeout(() => req.end('part two'), 30);
    });
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body);
    assert.equal(e.body, 'part one, part two');
    assert.equal(e.headers['transfer-encoding'], 'chunked');
    assert.equal(e.headers['content-length'], undefined);
  });

  it('relays a chunked response body', async () => {
    const r = await request(`${f.url}/chunked`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello world');
    assert.equal(r.headers['transfer-encoding'], 'chunked');
  });

  it('answers HEAD, 204 and 304 without a body', async () => {
    // read for a while after the head: nothing may follow it
    const head = await rawExchange(f.port, 'HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 300 });
    const text = head.data.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(text.endsWith('\r\n\r\n'), `HEAD response has no body: ${JSON.stringify(text)}`);
    assert.equal(head.closed, false, 'the connection stays open after HEAD');

    const r204 = await request(`${f.url}/204`);
    assert.equal(r204.status, 204);
    assert.equal(r204.body.length, 0);
    assert.equal(r204.headers['x-kind'], 'no-content');
    assert.equal(r204.headers['content-length'], undefined);
    const r304 = await request(`${f.url}/304`);
    assert.equal(r304.status, 304);
    assert.equal(r304.body.length, 0);
    assert.equal(r304.headers.etag, '"v1"');
  });

  it('handles Expect: 100-continue', async () => {
    const r = await rawExchange(f.port, 'POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', {
      until: (got) => got.includes('100 Continue'),
    });
    assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 100 Continue/);
    const full = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${f.url}/expect`, { method: 'POST', agent: false, headers: { expect: '100-continue', 'content-length': '5' } }, (res) => {
        let b = '';
        res
          .setEncoding('utf8')
          .on('data', (d) => (b += d))
          .on('end', () => resolve(b));
      });
      req.on('continue', () => req.end('hello'));
      req.on('error', reject);
    });
    const e = JSON.parse(full);
    assert.equal(e.body, 'hello');
    assert.equal(e.headers.expect, undefined);
  });

  it('keeps several Set-Cookie headers separate', async () => {
    const r = await request(`${f.url}/cookies`);
    assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
  });

  it('keeps response header order and value case', async () => {
    const r = await request(`${f.url}/order`);
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0);
    const idx = (n: string) => names.indexOf(n);
    assert.ok(idx('X-Zeta') < idx('X-Alpha') && idx('X-Alpha') < idx('X-Mid'), names.join(','));
    assert.equal(r.headers['x-alpha'], 'MiXeD Case Value');
  });

  it('keeps request header order and value case', async () => {
    const r = await request(`${f.url}/req-order`, { headers: { 'X-Zeta': 'z', 'X-Alpha': 'MiXeD Value', 'X-Mid': 'm' } });
    const e = echoed(r);
    const names = e.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.ok(names.indexOf('x-zeta') < names.indexOf('x-alpha') && names.indexOf('x-alpha') < names.indexOf('x-mid'), names.join(','));
    assert.equal(e.headers['x-alpha'], 'MiXeD Value');
  });

  it('removes hop-by-hop headers from requests', async () => {
    const r = await rawExchange(
      f.port,
      'GET /hop-req HTTP/1.1\r\nHost: x\r\nConnection: X-Drop-Me, close\r\nX-Drop-Me: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n' +
        'Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Kept: yes\r\n\r\n',
    );
    assert.equal(statusOf(r.data), 200);
    const e = JSON.parse(r.data.toString('latin1').split('\r\n\r\n')[1]!);
    for (const h of ['x-drop-me', 'keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'upgrade'])
      assert.equal(e.headers[h], undefined, h);
    assert.equal(e.headers['x-kept'], 'yes');
  });

  it('sets X-Forwarded-* and Via, and passes Host', async () => {
    const r = await request(`${f.url}/fwd`, {
      headers: { host: 'shop.example.com', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', via: '1.0 corp' },
    });
    const e = echoed(r);
    // the client (127.0.0.1) is not a trusted proxy: its X-Forwarded-* claims are replaced
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.headers['x-forwarded-host'], 'shop.example.com');
    assert.equal(e.headers.host, 'shop.example.com');
    assert.equal(e.headers.via, '1.0 corp, 1.1 fulcrum');
  });

  it('generates a 404 for a path with no route', async () => {
    // this config routes everything; the dedicated routing tests cover 404s
    const r = await request(`${f.url}/anything`);
    assert.equal(r.status, 200);
  });
});

/**
 * rawConnection is one kept-alive client connection: send() writes a request in the given parts,
 * a timer turn apart (so that they tend to arrive in separate reads), and resolves with the body
 * of the 200 response that follows (Content-Length framed); anything else rejects.
 */
async function rawConnection(port: number): Promise<{ send(parts: Buffer[]): Promise<string>; close(): void }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.setNoDelay(true); // each part leaves at once
  let got = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    waiter?.();
  });
  sock.on('close', () => waiter?.());
  const response = (): string | null => {
    const end = got.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const head = got.subarray(0, end).toString('latin1');
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!head.startsWith('HTTP/1.1 200 ') || !(len >= 0)) throw new Error(`unexpected response: ${head}`);
    if (got.length < end + 4 + len) return null;
    const body = got.subarray(end + 4, end + 4 + len).toString('latin1');
    got = got.subarray(end + 4 + len);
    return body;
  };
  return {
    async send(parts) {
      for (const p of parts) {
        sock.write(p);
        await new Promise((r) => setTimeout(r, 2));
      }
      const deadline = Date.now() + 3000;
      for (;;) {
        const body = response();
        if (body !== null) return body;
        if (sock.destroyed || Date.now() > deadline) throw new Error(`no complete response (closed: ${sock.destroyed}): ${got.toString('latin1')}`);
        await new Promise<void>((r) => {
          waiter = r;
          setTimeout(r, 100);
        });
        waiter = null;
      }
    },
    close: () => sock.destroy(),
  };
}

function echoHandlerFor(o: Origin) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          origin: o.label,
          method: req.method,
          url: req.url,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          bodyLength: body.length,
          body: body.toString('latin1'),
        }),
      );
    });
  };
}

it('removes hop-by-hop headers from responses', async () => {
  const raw = await createRawOrigin((s) =>
    s.write(
      'HTTP/1.1 200 OK\r\nConnection: X-Secret-Hop, keep-alive\r\nX-Secret-Hop: should not pass\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n' +
        'Trailer: X-T\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
    ),
  );
  const f = await startFulcrum(oneUpstream([raw.url]));
  try {
    const r = await request(`${f.url}/hop`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
    for (const h of ['x-secret-hop', 'keep-alive', 'proxy-authenticate', 'trailer', 'upgrade', 'proxy-connection']) assert.equal(r.headers[h], undefined, h);
    assert.equal(r.headers['x-kept'], 'yes');
  } finally {
    await f.stop();
    await raw.close();
  }
});

describe('trusted proxies', () => {
  it('extends X-Forwarded-For from a trusted proxy', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { trustedProxies: ['127.0.0.0/8'] }));
    try {
      const r = await request(`${f.url}/t`, {
        headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'front.example' },
      });
      const e = echoed(r);
      assert.equal(e.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
      assert.equal(e.headers['x-forwarded-proto'], 'https');
      assert.equal(e.headers['x-forwarded-host'], 'front.example');
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('sends the server address as Host when hostHeader is "server"', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], {}, { hostHeader: 'server' }));
    try {
      const e = echoed(await request(`${f.url}/h`, { headers: { host: 'public.example' } }));
      assert.equal(e.headers.host, `127.0.0.1:${a.port}`);
      assert.equal(e.headers['x-forwarded-host'], 'public.example');
    } finally {
      await f.stop();
      await a.close();
    }
  });
});

describe('upstream keep-alive pool', () => {
  it('reuses connections to the backend', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url]));
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 4 }, () => request(`${f.url}/ka`, { agent })));
      }
      agent.destroy();
      assert.equal(a.hits, 40);
      assert.ok(a.sockets <= 4, `backend accepted ${a.sockets} connections for 40 requests`);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('caps connections per server and queues the rest', async () => {
    let open = 0;
    let maxOpen = 0;
    const a = await createOrigin('a', (req, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => {
        open--;
        res.end('ok');
      }, 30);
    });
    const f = await startFulcrum(oneUpstream([a.url], {}, { keepAlive: { maxConnections: 2 } }));
    try {
      const rs = await Promise.all(Array.from({ length: 10 }, () => request(`${f.url}/cap`)));
      assert.deepEqual(
        rs.map((r) => r.status),
        Array(10).fill(200),
      );
      assert.ok(a.sockets <= 2, `backend saw ${a.sockets} connections`);
      assert.ok(maxOpen <= 2);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('answers 503 when no pooled connection frees up in time', async () => {
    const a = await createOrigin('a', (req, res) => setTimeout(() => res.end('ok'), 1500));
    const f = await startFulcrum(oneUpstream([a.url], { timeouts: { upstreamConnectMs: 300 } }, { keepAlive: { maxConnections: 1 } }));
    try {
      const first = request(`${f.url}/one`);
      await new Promise((r) => setTimeout(r, 100));
      const second = await request(`${f.url}/two`);
      assert.equal(second.status, 503);
      assert.ok(second.headers['x-request-id']);
      assert.equal((await first).status, 200);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('retries once on a fresh connection when a reused one was closed by the server', async () => {
    // the server closes every connection right after answering, without saying so
    const raw = await createRawOrigin((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => sock.destroy(), 5);
    });
    const f = await startFulcrum(oneUpstream([raw.url]));
    try {
      for (let i = 0; i < 5; i++) {
        const r = await request(`${f.url}/stale`);
        assert.equal(r.status, 200);
        await new Promise((res) => setTimeout(res, 30));
      }
    } finally {
      await f.stop();
      await raw.close();
    }
  });
});

let slowClosed: ((v: boolean) => void) | undefined;

describe('errors', () => {
  let f: Fulcrum;
  let slow: Origin;
  let raws: RawOrigin[] = [];
  before(async () => {
    const dead = await deadPort();
    slow = await createOrigin('slow', (req, res) => {
      if (req.url === '/slow/hang') return; // never answers
      if (req.url === '/slow/wait-for-close') {
        res.on('close', () => slowClosed?.(true));
        return;
      }
      if (req.url === '/slow/half') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end('ok');
    });
    raws = await Promise.all([
      createRawOrigin((s) => s.end('HTTP/1.1 888 Weird\r\nContent-Length: 2\r\n\r\nok')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nX-Big: ' + 'a'.repeat(70000) + '\r\nContent-Length: 2\r\n\r\nok')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\nContent-Length: 2\n\nok')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nX-Fold: a\r\n  b\r\nContent-Length: 2\r\n\r\nok')),
      createRawOrigin((s) => s.end('garbage\r\n\r\n')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nX-Nul: a\u0000b\r\nContent-Length: 2\r\n\r\nok')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok')),
      createRawOrigin((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok')),
      createRawOrigin((s) => s.end('')),
    ]);
    const up = (urls: string[], extra: Record<string, unknown> = {}) => ({ balance: 'round-robin', servers: urls.map((url) => ({ url })), ...extra });
    f = await startFulcrum({
      workers: 1,
      timeouts: { upstreamConnectMs: 500, upstreamResponseMs: 500 },
      upstreams: {
        dead: up([`http://127.0.0.1:${dead}`]),
        slow: up([slow.url]),
        ...Object.fromEntries(raws.map((r, i) => [`raw${i}`, up([r.url])])),
      },
      routes: [
        { pathPrefix: '/dead', upstream: 'dead' },
        { pathPrefix: '/slow', upstream: 'slow' },
        ...raws.map((_, i) => ({ pathPrefix: `/raw${i}/`, upstream: `raw${i}` })),
      ],
    });
  });
  after(async () => {
    await f.stop();
    await slow.close();
    await Promise.all(raws.map((r) => r.close()));
  });

  it('answers 502 with a request id when the server refuses the connection', async () => {
    const r = await request(`${f.url}/dead`);
    assert.equal(r.status, 502);
    const id = r.headers['x-request-id'] as string;
    assert.ok(id);
    assert.ok(r.text.includes(id));
    assert.ok(!r.text.includes('127.0.0.1'), 'error body must not reveal the backend address');
    assert.ok(r.text.length < 200);
    await new Promise((res) => setTimeout(res, 50));
    assert.ok(f.logs().includes(id), 'the request id is in the log');
  });

  it('answers 504 when the server does not respond in time', async () => {
    const t0 = Date.now();
    const r = await request(`${f.url}/slow/hang`);
    assert.equal(r.status, 504);
    assert.ok(Date.now() - t0 < 3000);
  });

  it('closes the client connection when the server dies mid-body', async () => {
    await assert.rejects(request(`${f.url}/slow/half`));
  });

  it('answers 404 when no route matches, with a request id as every answer fulcrum writes itself', async () => {
    const r = await request(`${f.url}/nowhere`);
    assert.equal(r.status, 404);
    assert.match(String(r.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-z]+$/);
    const again = await request(`${f.url}/nowhere`);
    assert.notEqual(again.headers['x-request-id'], r.headers['x-request-id']);
  });

  const bad = [
    'status code 888',
    'conflicting Content-Length',
    'oversize head',
    'truncated body',
    'invalid chunk size',
    'bare LF line ends',
    'obs-fold',
    'garbage status line',
    'Transfer-Encoding gzip',
    'NUL in a header value',
    'space in a header name',
    'negative Content-Length',
    'empty response',
  ];
  bad.forEach((name, i) => {
    it(`turns a bad upstream response (${name}) into a clean 502 or a closed connection`, async () => {
      const r = await rawExchange(f.port, `GET /raw${i}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const s = statusOf(r.data);
      if (name === 'truncated body' || name === 'invalid chunk size') {
        // the status was already sent: the client must see a short body and a close
        assert.ok(r.closed);
        assert.ok(!r.data.toString('latin1').endsWith('short\r\n0\r\n\r\n'));
      } else {
        assert.equal(s, 502, `${name}: ${r.data.toString('latin1').slice(0, 200)}`);
      }
    });
  });

  it('cancels the upstream request when the client disconnects', async () => {
    const closed = new Promise<boolean>((resolve) => {
      slowClosed = resolve;
    });
    const sock = net.connect(f.port, '127.0.0.1');
    sock.write('GET /slow/wait-for-close HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    sock.destroy();
    const t0 = Date.now();
    assert.equal(await Promise.race([closed, new Promise((r) => setTimeout(() => r(false), 2000))]), true, 'the backend saw its request cancelled');
    assert.ok(Date.now() - t0 < 2000);
  });

  it('keeps serving after all of that', async () => {
    const r = await request(`${f.url}/slow/fine`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
  });
});
