/**
 * WebSocket proxying end to end: real `ws` clients and servers on both sides of the real fulcrum
 * process tree.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { deadPort } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { closed, createWsOrigin, nextMessage, wsConnect, type WsOrigin } from './helpers/ws-origin.js';
import { validateConfig } from '../src/config/load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wsUrl = (f: Fulcrum, path = '/') => `ws://127.0.0.1:${f.port}${path}`;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('websocket: handshake', () => {
  let a: WsOrigin;
  let f: Fulcrum;
  before(async () => {
    a = await createWsOrigin('a', {
      handleProtocols: (p) => (p.has('v2') ? 'v2' : false),
      upgradeHeaders: ['Set-Cookie: sid=abc; Path=/'],
      refuse: (req, socket) => {
        if (!req.url!.startsWith('/private')) return false;
        socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nno token\n');
        return true;
      },
    });
    f = await startFulcrum(oneUpstream([a.url]));
  });
  after(async () => {
    await f.stop();
    await a.close();
  });

  it('uses the subprotocol the server chose, forwards cookies, auth and X-Forwarded-*, keeps the path exact', async () => {
    const ws = await wsConnect(wsUrl(f, '/chat/room%20one?x=1&y=%2F'), ['v1', 'v2'], {
      headers: { cookie: 'uid=42', authorization: 'Bearer t0k', origin: 'http://app.example' },
    });
    assert.equal(ws.protocol, 'v2');
    const req = a.upgrades.at(-1)!;
    assert.equal(req.url, '/chat/room%20one?x=1&y=%2F', 'path and query exactly as sent');
    assert.equal(req.headers.cookie, 'uid=42');
    assert.equal(req.headers.authorization, 'Bearer t0k');
    assert.equal(req.headers.origin, 'http://app.example');
    assert.equal(req.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(req.headers['x-forwarded-proto'], 'http');
    assert.equal(req.headers['x-forwarded-host'], `127.0.0.1:${f.port}`);
    assert.equal(req.headers.host, `127.0.0.1:${f.port}`);
    assert.equal(req.headers.via, '1.1 fulcrum');
    assert.equal(req.headers['sec-websocket-protocol'], 'v1,v2');
    ws.send('hello');
    const m = await nextMessage(ws);
    assert.equal(m.data.toString(), 'hello');
    assert.equal(m.isBinary, false);
    ws.close();
    await closed(ws);
  });

  it('relays the Set-Cookie of the 101 to the client', async () => {
    const ws = new WebSocket(wsUrl(f, '/c'));
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      ws.once('upgrade', resolve);
      ws.once('error', reject);
    });
    assert.deepEqual(res.headers['set-cookie'], ['sid=abc; Path=/']);
    ws.close();
    await closed(ws);
  });

  it('gets no subprotocol when the server picks none', async () => {
    // RFC 6455 allows it and browsers accept it; the `ws` client does not, so read the raw 101
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const ws = new WebSocket(wsUrl(f), ['v9']);
      ws.once('upgrade', resolve);
      ws.once('error', () => {});
      setTimeout(() => reject(new Error('no 101')), 5000);
    });
    assert.equal(res.statusCode, 101);
    assert.equal(res.headers['sec-websocket-protocol'], undefined);
  });

  it('relays an upstream refusal with its status, headers and body', async () => {
    const err = (await wsConnect(wsUrl(f, '/private')).catch((e: unknown) => e)) as { status: number; headers: Record<string, string>; body: string };
    assert.equal(err.status, 401);
    assert.equal(err.headers['www-authenticate'], 'Bearer');
    assert.equal(err.body, 'no token\n');
    // and plain HTTP on the same listener still works
    const r = await request(`${f.url}/plain`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'a');
  });

  it('answers 502 when the server is down, 404 without a route', async () => {
    const g = await startFulcrum({
      ...oneUpstream([`http://127.0.0.1:${await deadPort()}`]),
      routes: [{ host: '*', pathPrefix: '/ws', upstream: 'app' }],
    });
    try {
      const e1 = (await wsConnect(wsUrl(g, '/ws')).catch((e: unknown) => e)) as { status: number; body: string };
      assert.equal(e1.status, 502);
      assert.match(e1.body, /request id: /);
      const e2 = (await wsConnect(wsUrl(g, '/other')).catch((e: unknown) => e)) as { status: number };
      assert.equal(e2.status, 404);
    } finally {
      await g.stop();
    }
    assert.match(g.logs(), /websocket upgrade failed/);
  });
});

describe('websocket: relay', () => {
  let a: WsOrigin;
  let f: Fulcrum;
  const serverSide: WebSocket[] = [];
  before(async () => {
    a = await createWsOrigin('a', {
      onConnection: (ws, req) => {
        serverSide.push(ws);
        if (req.url === '/bye') {
          ws.once('message', () => ws.close(4001, 'bye'));
          return;
        }
        if (req.url === '/fragments') {
          ws.once('message', () => {
            ws.send('frag-', { fin: false });
            ws.send('ment-', { fin: false });
            ws.send('ed', { fin: true });
          });
          return;
        }
        ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
      },
    });
    f = await startFulcrum(oneUpstream([a.url]));
  });
  after(async () => {
    await f.stop();
    await a.close();
  });

  it('relays 2,000 mixed text and binary messages in order, types kept', async () => {
    const ws = await wsConnect(wsUrl(f, '/echo'));
    const got: { data: Buffer; isBinary: boolean }[] = [];
    ws.on('message', (data, isBinary) => got.push({ data: data as Buffer, isBinary }));
    const N = 2000;
    for (let i = 0; i < N; i++) {
      if (i % 2 === 0) ws.send(`text ${i} ${'x'.repeat(i % 300)} é`);
      else ws.send(Buffer.from([i & 255, (i >> 8) & 255, 0, 255, ...Buffer.alloc(i % 500, i & 255)]), { binary: true });
    }
    await until(() => got.length === N, 15_000, 'all echoes');
    for (let i = 0; i < N; i++) {
      const m = got[i]!;
      if (i % 2 === 0) {
        assert.equal(m.isBinary, false, `message ${i} stays text`);
        assert.equal(m.data.toString('utf8'), `text ${i} ${'x'.repeat(i % 300)} é`);
      } else {
        assert.equal(m.isBinary, true, `message ${i} stays binary`);
        assert.equal(m.data.length, 4 + (i % 500));
        assert.equal(m.data[0], i & 255);
        assert.equal(m.data[1], (i >> 8) & 255);
      }
    }
    ws.close();
    await closed(ws);
  });

  it('relays one 8 MiB message both ways intact', async () => {
    const ws = await wsConnect(wsUrl(f, '/big'));
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    ws.send(big, { binary: true });
    const m = await nextMessage(ws);
    assert.equal(m.isBinary, true);
    assert.equal(m.data.length, big.length);
    assert.equal(createHash('sha256').update(m.data).digest('hex'), createHash('sha256').update(big).digest('hex'));
    ws.close();
    await closed(ws);
  });

  it('relays fragmented messages whole, both ways', async () => {
    const ws = await wsConnect(wsUrl(f, '/fragments'));
    ws.send('part one, ', { fin: false });
    ws.send('part two', { fin: true });
    const m = await nextMessage(ws);
    assert.equal(m.data.toString(), 'frag-ment-ed');
    ws.close();
    await closed(ws);
  });

  it('relays close codes and reasons: server 4001 "bye" reaches the client; client 4002 reaches the server', async () => {
    const ws = await wsConnect(wsUrl(f, '/bye'));
    const c = closed(ws);
    ws.send('go');
    const r = await c;
    assert.equal(r.code, 4001);
    assert.equal(r.reason, 'bye');

    const ws2 = await wsConnect(wsUrl(f, '/echo2'));
    const server = serverSide.at(-1)!;
    const sc = closed(server);
    ws2.close(4002, 'later');
    const s = await sc;
    assert.equal(s.code, 4002);
    assert.equal(s.reason, 'later');
  });

  it('closes the client with 1011 within a second when the server dies', async () => {
    const ws = await wsConnect(wsUrl(f, '/die'));
    ws.send('x');
    await nextMessage(ws);
    const server = serverSide.at(-1)!;
    const c = closed(ws);
    const t0 = Date.now();
    (server as unknown as { _socket: import('node:net').Socket })._socket.destroy(); // no close frame: the server "died"
    const r = await c;
    assert.ok(r.code === 1011 || r.code === 1006, `close code ${r.code}`);
    assert.ok(r.at - t0 < 1000, `closed after ${r.at - t0} ms`);
  });

  it('closes the server side when the client vanishes', async () => {
    const ws = await wsConnect(wsUrl(f, '/vanish'));
    ws.send('x');
    await nextMessage(ws);
    const server = serverSide.at(-1)!;
    const sc = closed(server);
    const t0 = Date.now();
    ws.terminate(); // no close frame
    const s = await sc;
    assert.equal(s.code, 1001);
    assert.ok(s.at - t0 < 1000, `server closed after ${s.at - t0} ms`);
  });

  it('answers pings on the client hop', async () => {
    const ws = await wsConnect(wsUrl(f, '/ping'));
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping('are you there');
    assert.equal((await pong).toString(), 'are you there');
    ws.close();
    await closed(ws);
  });
});

describe('websocket: config', () => {
  it('refuses maxBufferedBytes below maxMessageBytes and a too short idle timeout, by JSON path', () => {
    assert.throws(
      () =>
        validateConfig({
          ...oneUpstream(['http://127.0.0.1:9001']),
          websocket: { maxMessageBytes: 2_000_000, maxBufferedBytes: 1_000_000, idleTimeoutMs: 500 },
        }),
      (e: Error) => /\$\.websocket\.maxBufferedBytes: got 1000000; expected at least websocket\.maxMessageBytes/.test(e.message) && /\$\.websocket\.idleTimeoutMs/.test(e.message),
    );
    const ok = validateConfig(oneUpstream(['http://127.0.0.1:9001']));
    assert.deepEqual(ok.raw.websocket, { maxMessageBytes: 16777216, maxBufferedBytes: 33554432, idleTimeoutMs: 120000 });
  });
});
