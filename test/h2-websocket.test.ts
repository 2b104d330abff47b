/**
 * WebSockets over HTTP/2 (RFC 8441 extended CONNECT) through the real `fulcrum start`, on both
 * HTTP/2 implementations, over TLS and h2c: a node:http2 client opens a stream `CONNECT` with
 * `:protocol: websocket` and speaks WebSocket frames on it (test/helpers/ws-frames.ts: masked by
 * hand) to a real `ws` origin that fulcrum reaches with an HTTP/1.1 upgrade. Checked: what the
 * origin receives (GET, Upgrade, a fresh key, version, subprotocol), echo both ways with a large
 * message, back-pressure each way (the slow side's peer is held back, nothing piles up), closing
 * from either end, the client's RST_STREAM, an origin that refuses (its status on the stream), a
 * wrong Sec-WebSocket-Accept (502), another :protocol (501), malformed extended CONNECTs and
 * http2.webSockets false (RST_STREAM PROTOCOL_ERROR, as nghttp2 answers), a GET on the same
 * connection meanwhile, and the WebSocket metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type WebSocket from 'ws';
import { hasOpenssl, makeCert } from './helpers/certs.js';
import { chromiumSkip, launchChromium } from './helpers/chromium.js';
import { request } from './helpers/client.js';
import { type Fulcrum, startFulcrum } from './helpers/fulcrum.js';
import { Frame, h2connect, h2request, RawH2 } from './helpers/h2.js';
import { freePort } from './helpers/origin.js';
import { tcpCounter } from './helpers/tcp-counter.js';
import { eventually, sleep, until } from './helpers/wait.js';
import { closeFrame, Op, wsFrame, WsReader } from './helpers/ws-frames.js';
import { createWsOrigin, echo, type WsOrigin } from './helpers/ws-origin.js';

const { NGHTTP2_CANCEL, NGHTTP2_PROTOCOL_ERROR } = http2.constants;
const MiB = 1024 * 1024;

interface WsStream {
  st: http2.ClientHttp2Stream;
  reader: WsReader;
  status: number;
  head: http2.IncomingHttpHeaders;
}

/** a page that sends a 200 kB message over a WebSocket to its own origin and shows the answer's length in its title */
const PAGE = `<!doctype html><title>ws</title><link rel="icon" href="data:,"><script>
const ws = new WebSocket('wss://' + location.host + '/chrome');
ws.onopen = () => ws.send('x'.repeat(200000));
ws.onmessage = (e) => { document.title = 'echo ' + e.data.length; };
ws.onerror = () => { document.title = 'error'; };
</script>`;

/** openWs sends an extended CONNECT for `path` and resolves once the response head is in. */
function openWs(s: http2.ClientHttp2Session, authority: string, p: string, headers: http2.OutgoingHttpHeaders = {}): Promise<WsStream> {
  const st = s.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':authority': authority, ':path': p, 'sec-websocket-version': '13', ...headers },
    { endStream: false },
  );
  st.on('error', () => {});
  const reader = new WsReader(st);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response within 10 s')), 10_000);
    st.once('response', (head) => {
      clearTimeout(timer);
      resolve({ st, reader, status: Number(head[':status']), head });
    });
    st.once('close', () => reject(new Error(`stream closed before a response (RST_STREAM ${st.rstCode})`)));
  });
}

/** stalled resolves with read() once two readings 300 ms apart are equal (a flow stopped), within 15 s. */
async function stalled(read: () => number, what: string): Promise<number> {
  let prev = -1;
  await until(
    () => {
      const n = read();
      const same = n === prev;
      prev = n;
      return same;
    },
    what,
    15_000,
    300,
  );
  return prev;
}

/** streamClosed resolves with the stream's RST_STREAM code (0 for a clean close) once it closed. */
function streamClosed(st: http2.ClientHttp2Stream): Promise<number> {
  if (st.closed) return Promise.resolve(st.rstCode ?? 0);
  return new Promise((resolve) => st.once('close', () => resolve(st.rstCode ?? 0)));
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** an origin that answers every upgrade 101 with a Sec-WebSocket-Accept that matches no key */
async function wrongAcceptOrigin(): Promise<{ url: string; close: () => void }> {
  const srv = net.createServer((c) => {
    c.on('error', () => {});
    c.once('data', () =>
      c.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSBhbnN3ZXI=\r\n\r\n'),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, close: () => srv.close() };
}

/** the SETTINGS_ENABLE_CONNECT_PROTOCOL value of the server's first SETTINGS frame (0 when absent) */
function connectSetting(c: RawH2): number {
  const f = c.frames.find((x) => x.type === Frame.Settings && (x.flags & 1) === 0);
  if (f === undefined) return -1;
  for (let p = 0; p + 6 <= f.payload.length; p += 6) if (f.payload.readUInt16BE(p) === 0x8) return f.payload.readUInt32BE(p + 2);
  return 0;
}

for (const implementation of ['node', 'fulcrum'] as const) {
  describe(`WebSockets over HTTP/2 (RFC 8441, http2.implementation ${implementation})`, {
    skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)',
  }, () => {
    let a: WsOrigin;
    let b: WsOrigin;
    let bad: { url: string; close: () => void };
    let f: Fulcrum;
    let tlsPort: number;
    /** the origin's side of the last WebSocket it accepted, and its close code */
    let last: WebSocket | null = null;
    const closes: number[] = [];
    before(async () => {
      a = await createWsOrigin('a', {
        handleProtocols: (p) => (p.has('chat') ? 'chat' : false),
        upgradeHeaders: ['X-Origin: a'],
        refuse: (req, socket) => {
          if (!req.url!.startsWith('/private')) return false;
          socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: no-token\r\nContent-Length: 9\r\n\r\nno token\n');
          return true;
        },
        onRequest: (req, res) => {
          if (req.url !== '/page') return false;
          res.setHeader('content-type', 'text/html');
          res.end(PAGE);
          return true;
        },
        onConnection: (ws, req) => {
          last = ws;
          ws.on('close', (code) => closes.push(code));
          if (req.url === '/bye') ws.close(4001, 'bye');
          else if (req.url === '/flood') for (let i = 0; i < 32; i++) ws.send(Buffer.alloc(MiB, i));
          else if (req.url === '/deaf') {
            (ws as unknown as { _socket: net.Socket })._socket.pause();
            echo(ws);
          } else echo(ws);
        },
      });
      b = await createWsOrigin('b');
      bad = await wrongAcceptOrigin();
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-h2ws-'));
      const { cert, key } = makeCert(dir, 'localhost');
      tlsPort = await freePort();
      f = await startFulcrum({
        workers: 1,
        listen: { h2c: true },
        tls: { port: tlsPort, cert, key },
        logging: { access: 'off' },
        http2: { implementation },
        upstreams: {
          app: { servers: [{ url: a.url }] },
          bad: { servers: [{ url: bad.url }] },
          sticky: { sticky: { mode: 'cookie' }, servers: [{ url: a.url }, { url: b.url }] },
        },
        routes: [
          { host: '*', pathPrefix: '/bad', upstream: 'bad' },
          { host: '*', pathPrefix: '/sticky', upstream: 'sticky' },
          { host: '*', pathPrefix: '/', upstream: 'app' },
        ],
      });
    });
    after(async () => {
      await f?.stop();
      await a?.close();
      await b?.close();
      bad?.close();
    });

    for (const secure of [true, false]) {
      const name = secure ? 'TLS' : 'h2c';
      it(`${name}: announced; the origin gets an HTTP/1.1 upgrade with a fresh key; echo both ways, a 4 MiB message intact`, async () => {
        const s = await h2connect(secure ? `https://127.0.0.1:${tlsPort}` : f.url);
        // the server's SETTINGS may come after 'connect'
        await until(() => s.remoteSettings.enableConnectProtocol === true, 'SETTINGS_ENABLE_CONNECT_PROTOCOL = 1', 5000);
        const authority = `127.0.0.1:${secure ? tlsPort : f.port}`;
        const w = await openWs(s, authority, '/chat?room=1', { 'sec-websocket-protocol': 'chat, other', origin: 'https://app.example' });
        assert.equal(w.status, 200);
        assert.equal(w.head['sec-websocket-protocol'], 'chat');
        assert.equal(w.head['x-origin'], 'a', "the 101's end-to-end fields");
        assert.equal(w.head['sec-websocket-accept'], undefined, 'no Accept over HTTP/2 (RFC 8441 5)');
        assert.equal(w.head['content-length'], undefined);
        const req = a.upgrades.at(-1)!;
        assert.equal(req.method, 'GET');
        assert.equal(req.url, '/chat?room=1');
        assert.equal(req.headers.upgrade, 'websocket');
        assert.equal(req.headers.connection?.toLowerCase(), 'upgrade');
        assert.equal(req.headers['sec-websocket-version'], '13');
        assert.equal(req.headers['sec-websocket-protocol'], 'chat, other');
        assert.equal(Buffer.from(req.headers['sec-websocket-key']!, 'base64').length, 16);
        assert.equal(req.headers.host, authority);
        assert.equal(req.headers.origin, 'https://app.example');
        assert.equal(req.headers['x-forwarded-proto'], secure ? 'https' : 'http');
        w.st.write(wsFrame(Op.Text, 'hello'));
        const m = await w.reader.next(0);
        assert.deepEqual([m.op, m.data.toString()], [Op.Text, 'hello']);
        const big = Buffer.alloc(4 * MiB);
        for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
        w.st.write(wsFrame(Op.Binary, big));
        const b = await w.reader.next(1, 20_000);
        assert.equal(b.op, Op.Binary);
        assert.ok(b.data.equals(big), 'the 4 MiB message came back intact');
        w.st.write(closeFrame(1000));
        await w.reader.next(2);
        w.st.end();
        assert.equal(await streamClosed(w.st), 0);
        s.close();
      });
    }

    it('the client closes: close frames both ways, END_STREAM both ways, the origin sees 1000', async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/c');
      const n = closes.length;
      w.st.write(closeFrame(1000, 'done'));
      const c = await w.reader.next(0);
      assert.equal(c.op, Op.Close);
      assert.equal(c.data.readUInt16BE(0), 1000);
      await w.reader.until(() => w.reader.ended, 10_000, 'END_STREAM from the origin FIN');
      w.st.end();
      assert.equal(await streamClosed(w.st), 0, 'closed without RST_STREAM');
      await until(() => closes.length > n, 'the origin sees the close', 5000);
      assert.equal(closes.at(-1), 1000);
      s.close();
    });

    it('the origin closes: its close frame arrives, our reply reaches it, the stream ends cleanly', async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/bye');
      const n = closes.length;
      const c = await w.reader.next(0);
      assert.equal(c.op, Op.Close);
      assert.equal(c.data.readUInt16BE(0), 4001);
      assert.equal(c.data.subarray(2).toString(), 'bye');
      w.st.write(closeFrame(4001));
      w.st.end();
      assert.equal(await streamClosed(w.st), 0);
      await until(() => closes.length > n, 'the origin sees the close', 5000);
      assert.equal(closes.at(-1), 4001, 'the origin got its close answered');
      s.close();
    });

    it("the client's RST_STREAM (CANCEL) closes the origin's connection (1006)", async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/r');
      const n = closes.length;
      w.st.write(wsFrame(Op.Text, 'x'));
      await w.reader.next(0);
      w.st.close(NGHTTP2_CANCEL);
      await until(() => closes.length > n, 'the origin sees the close', 5000);
      assert.equal(closes.at(-1), 1006);
      const r = await h2request(s, { ':path': '/after-reset' });
      assert.equal(r.status, 200, 'the connection goes on');
      s.close();
    });

    it('a client that does not read holds back the origin (its bytes stay there), then gets all 32 MiB', async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/flood');
      w.st.pause();
      const origin = () => last!;
      // fulcrum stops reading the origin: once nothing moves, most of what it sent (32 MiB, all
      // buffered at once) is still in the origin's own buffer (the rest: socket buffers, a window)
      const stuck = await stalled(() => origin().bufferedAmount, 'the origin to stall');
      assert.ok(stuck > 12 * MiB, `the origin still holds ${stuck} bytes`);
      const r = await h2request(s, { ':path': '/meanwhile' });
      assert.equal(r.status, 200, 'a GET on the same connection is served meanwhile');
      w.st.resume();
      await w.reader.until(() => w.reader.messages.length === 32, 30_000, '32 messages');
      for (let i = 0; i < 32; i++) assert.ok(w.reader.messages[i]!.data.equals(Buffer.alloc(MiB, i)), `message ${i}`);
      w.st.close(NGHTTP2_CANCEL);
      s.close();
    });

    it('an origin that does not read holds back the client (flow control), then echoes everything', async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/deaf');
      for (let i = 0; i < 32; i++) w.st.write(wsFrame(Op.Binary, Buffer.alloc(MiB, i)));
      // the stream's window is not given back while the origin does not read: once nothing
      // moves, the client still holds most of the 32 MiB it wrote
      const held = await stalled(() => w.st.writableLength, "the client's stream to stall");
      assert.ok(held > 12 * MiB, `the client still holds ${held} bytes`);
      (last as unknown as { _socket: net.Socket })._socket.resume();
      await w.reader.until(() => w.reader.messages.length === 32, 30_000, '32 echoes');
      for (let i = 0; i < 32; i++) assert.ok(w.reader.messages[i]!.data.equals(Buffer.alloc(MiB, i)), `echo ${i}`);
      w.st.close(NGHTTP2_CANCEL);
      s.close();
    });

    it('a sticky session: the 200 sets the cookie, later WebSockets with it reach the same server', async () => {
      const s = await h2connect(f.url);
      const authority = `127.0.0.1:${f.port}`;
      const sticky = (o: WsOrigin) => o.upgrades.filter((r) => r.url === '/sticky').length;
      const first = await openWs(s, authority, '/sticky');
      assert.equal(first.status, 200);
      const setCookie = String(first.head['set-cookie'] ?? '');
      assert.match(setCookie, /^fulcrum_sid=/);
      first.st.close(NGHTTP2_CANCEL);
      const owner = sticky(a) === 1 ? a : b;
      for (let i = 0; i < 4; i++) {
        const w = await openWs(s, authority, '/sticky', { cookie: setCookie.split(';')[0]! });
        assert.equal(w.status, 200);
        w.st.close(NGHTTP2_CANCEL);
      }
      assert.equal(sticky(owner), 5, 'every WebSocket with the cookie reached the same server');
      s.close();
    });

    it("an origin's refusal (403) is the stream's response with its fields and body", async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/private');
      assert.equal(w.status, 403);
      assert.equal(w.head['x-why'], 'no-token');
      await w.reader.until(() => w.reader.ended, 5000, 'the end of the response');
      s.close();
    });

    it("a 101 whose Sec-WebSocket-Accept does not match fulcrum's key is 502", async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/bad');
      assert.equal(w.status, 502);
      s.close();
    });

    it(':protocol other than websocket is 501; a malformed extended CONNECT is RST_STREAM PROTOCOL_ERROR', async () => {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/x', { ':protocol': 'connect-udp' });
      assert.equal(w.status, 501);
      s.close();
      const c = await RawH2.open(f.port, false);
      c.request(
        1,
        [
          [':method', 'CONNECT'],
          [':protocol', 'websocket'],
          [':scheme', 'http'],
          [':path', '/'],
        ],
        false,
      ); // no :authority
      c.request(
        3,
        [
          [':method', 'GET'],
          [':protocol', 'websocket'],
          [':scheme', 'http'],
          [':path', '/'],
          [':authority', 'a'],
        ],
        false,
      );
      await c.until(() => c.frames.filter((x) => x.type === Frame.RstStream).length === 2, 5000, 'two RST_STREAM');
      for (const r of c.frames.filter((x) => x.type === Frame.RstStream)) assert.equal(r.payload.readUInt32BE(0), NGHTTP2_PROTOCOL_ERROR);
      c.destroy();
    });

    it('Chromium opens its WebSocket over the HTTP/2 connection of the page: one busy connection at the TLS listener, no HTTP/1.1', {
      skip: chromiumSkip,
      timeout: 60_000,
    }, async () => {
      const counter = await tcpCounter(tlsPort);
      const browser = await launchChromium(['--ignore-certificate-errors'], { ignoreHTTPSErrors: true });
      try {
        const page = await browser.newPage();
        await page.goto(`https://localhost:${counter.port}/page`);
        await page.waitForFunction(() => document.title !== 'ws', null, { timeout: 20_000 });
        assert.equal(await page.title(), 'echo 200000', 'a 200 kB message went there and back');
      } finally {
        await browser.close();
        counter.close();
      }
      // Chromium may open a spare connection (TLS handshake and SETTINGS, about 3 kB); a WebSocket
      // over HTTP/1.1 would be a connection of its own that offers only "http/1.1"
      assert.deepEqual(counter.offers(), Array(counter.offers().length).fill('h2'), 'every connection offered h2');
      assert.equal(counter.busy(true), 1, 'the page and its WebSocket over one connection');
    });

    it('counts in the WebSocket metrics', async () => {
      // workers report their counters to the primary now and then
      await eventually(
        async () => {
          const text = (await request(`${f.adminUrl}/metrics`)).text;
          assert.ok(metric(text, 'fulcrum_websockets_opened_total') >= 7);
          assert.ok(metric(text, 'fulcrum_websocket_bytes_total{direction="from_client"}') > 32 * MiB);
          assert.ok(metric(text, 'fulcrum_websocket_bytes_total{direction="to_client"}') > 64 * MiB);
          assert.ok(metric(text, 'fulcrum_websocket_upgrades_refused_total') >= 2, 'the 403 and the 502');
        },
        8000,
        200,
      );
    });
  });

  it(`on shutdown a WebSocket over HTTP/2 keeps working until drainMs, then is reset (CANCEL) and the worker exits (${implementation})`, async () => {
    const a = await createWsOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      listen: { h2c: true },
      logging: { access: 'off' },
      timeouts: { drainMs: 1500 },
      http2: { implementation },
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    try {
      const s = await h2connect(f.url);
      const w = await openWs(s, `127.0.0.1:${f.port}`, '/long');
      const t0 = Date.now();
      f.proc.kill('SIGTERM');
      await sleep(500);
      w.st.write(wsFrame(Op.Text, 'still here'));
      assert.equal((await w.reader.next(0)).data.toString(), 'still here');
      assert.equal(await streamClosed(w.st), NGHTTP2_CANCEL);
      assert.ok(Date.now() - t0 >= 1200, `reset ${Date.now() - t0} ms after SIGTERM, not before drainMs`);
      await until(() => a.clients.size === 0, "the origin's side closed", 5000);
      const code = await f.exited;
      assert.equal(code, 0, `fulcrum exited with ${code}; its log:\n${f.logs().slice(-4000)}`);
      s.destroy();
    } finally {
      await f.stop();
      await a.close();
    }
  });

  describe(`http2.webSockets false (${implementation})`, () => {
    let f: Fulcrum;
    before(async () => {
      f = await startFulcrum({
        workers: 1,
        listen: { h2c: true },
        logging: { access: 'off' },
        http2: { implementation, webSockets: false },
        upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9' }] } },
        routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
      });
    });
    after(async () => {
      await f?.stop();
    });

    it('SETTINGS_ENABLE_CONNECT_PROTOCOL is not announced and :protocol is RST_STREAM PROTOCOL_ERROR', async () => {
      const c = await RawH2.open(f.port, false);
      c.request(
        1,
        [
          [':method', 'CONNECT'],
          [':protocol', 'websocket'],
          [':scheme', 'http'],
          [':path', '/'],
          [':authority', 'a'],
        ],
        false,
      );
      await c.until(() => c.frames.some((x) => x.type === Frame.RstStream), 5000, 'RST_STREAM');
      assert.notEqual(connectSetting(c), 1);
      assert.equal(c.frames.find((x) => x.type === Frame.RstStream)!.payload.readUInt32BE(0), NGHTTP2_PROTOCOL_ERROR);
      c.destroy();
    });
  });
}
