/**
 * WebSocket proxying end to end: real `ws` clients and servers on both sides of the real fulcrum
 * process tree. The shared behaviour runs on the engine the suite runs on (fulcrum's own by
 * default, where a WebSocket is a byte tunnel after the server's 101; FULCRUM_TEST_ENGINE=uws for
 * the uWS message relay); what only the uWS relay does (1009, 1013, answering and sending pings)
 * runs with listen.engine "uws" explicitly, and what only the tunnel does (pausing a fast client,
 * its idle timeout, wss:// on the TLS listener) on the fulcrum engine.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { deadPort, freePort } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { adminCall, request } from './helpers/client.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { sleep, until } from './helpers/wait.js';
import { closed, createWsOrigin, echo, nextMessage, wsConnect, type WsOrigin } from './helpers/ws-origin.js';
import { validateConfig } from '../src/config/load.js';
import { UWS_SKIP } from './helpers/uws.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';

/** the suite's engine: a tunnel (fulcrum's own) or the uWS message relay */
const TUNNEL = (process.env.FULCRUM_TEST_ENGINE ?? 'fulcrum') === 'fulcrum';
/** the close code a WebSocket end sees when fulcrum closes its hop: a tunnel only closes TCP (1006), the relay says 1001 */
const GOING_AWAY = TUNNEL ? 1006 : 1001;
const UWS = { engine: 'uws' };
/** what the uWS engine accepts (its keep-alive timeout is fixed) */
const UWS_TIMEOUTS = { keepAliveMs: 10_000 };
const FULCRUM = { engine: 'fulcrum' };
const wsUrl = (f: Fulcrum, path = '/') => `ws://127.0.0.1:${f.port}${path}`;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
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

  it('refuses a malformed handshake itself (uWS relay): 426 for another version, 400 for a bad subprotocol list, no upgrade for a bad key', {
    skip: TUNNEL && 'the tunnel leaves the handshake to the server (next test)',
  }, async () => {
    const head = (extra: string) => `GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
    const until = (b: Buffer) => b.includes('request id');
    const before = a.upgrades.length;
    const v8 = await rawExchange(f.port, head('Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'), { until });
    assert.equal(statusOf(v8.data), 426);
    assert.match(v8.data.toString(), /sec-websocket-version: 13/i);
    // uWS itself does not treat a request with a malformed key as an upgrade: it goes through as
    // a plain GET (Upgrade removed as hop-by-hop), never as a WebSocket
    const badKey = await rawExchange(f.port, head('Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n'), { until: (b) => b.includes('\r\n\r\n') });
    assert.notEqual(statusOf(badKey.data), 101);
    const dupProto = await rawExchange(
      f.port,
      head('Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a, a\r\n'),
      { until },
    );
    assert.equal(statusOf(dupProto.data), 400);
    assert.equal(a.upgrades.length, before, 'none of them reached the server');
  });

  it("relays the server's answer to a malformed handshake (tunnel): a bad version, key or subprotocol list gets the server's 400", {
    skip: !TUNNEL && 'the uWS relay answers itself (previous test)',
  }, async () => {
    const head = (extra: string) => `GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
    const until = (b: Buffer) => b.includes('\r\n\r\n') && /header$/.test(b.toString());
    const before = a.upgrades.length;
    const v7 = await rawExchange(f.port, head('Sec-WebSocket-Version: 7\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'), { until });
    assert.equal(statusOf(v7.data), 400);
    assert.match(v7.data.toString(), /sec-websocket-version: 13, 8\r\n/i, 'the versions the server speaks');
    assert.match(v7.data.toString(), /invalid Sec-WebSocket-Version header$/);
    assert.match(v7.data.toString(), /connection: close\r\n/i);
    const badKey = await rawExchange(f.port, head('Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n'), { until });
    assert.equal(statusOf(badKey.data), 400);
    assert.match(badKey.data.toString(), /invalid Sec-WebSocket-Key header$/);
    const dupProto = await rawExchange(
      f.port,
      head('Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a, a\r\n'),
      { until },
    );
    assert.equal(statusOf(dupProto.data), 400);
    assert.match(dupProto.data.toString(), /Invalid Sec-WebSocket-Protocol header$/);
    assert.equal(a.upgrades.length, before + 3, 'the server judged all three');
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
    await until(() => got.length === N, 'all echoes', 15_000);
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
    assert.equal(s.code, GOING_AWAY);
    assert.ok(s.at - t0 < 1000, `server closed after ${s.at - t0} ms`);
  });

  it('counts WebSockets in GET /metrics: opened, open, closed by code (uWS), bytes each way', async () => {
    let text = '';
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline) {
      text = (await request(`${f.adminUrl}/metrics`)).text;
      if (
        TUNNEL ? /fulcrum_websocket_bytes_total\{direction="to_client"\} [1-9]\d{6,}/.test(text) : /fulcrum_websockets_closed_total\{code="4001"\} 1/.test(text)
      )
        break;
      await sleep(100);
    }
    assert.match(text, /fulcrum_websockets_opened_total \d+/);
    // a tunnel does not read frames: close codes are counted by the uWS relay only
    if (!TUNNEL) assert.match(text, /fulcrum_websockets_closed_total\{code="4001"\} 1/);
    assert.match(text, /fulcrum_websockets_open \d+/);
    assert.match(text, /fulcrum_websocket_bytes_total\{direction="from_client"\} [1-9]\d{6,}/, 'the 8 MiB message counted');
    assert.match(text, /fulcrum_websocket_bytes_total\{direction="to_client"\} [1-9]\d{6,}/);
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
      (e: Error) =>
        /\$\.websocket\.maxBufferedBytes: got 1000000; expected at least websocket\.maxMessageBytes/.test(e.message) &&
        /\$\.websocket\.idleTimeoutMs/.test(e.message),
    );
    const ok = validateConfig(oneUpstream(['http://127.0.0.1:9001']));
    assert.deepEqual(ok.raw.websocket, { maxMessageBytes: 16777216, maxBufferedBytes: 33554432, idleTimeoutMs: 120000 });
  });
});

describe('websocket: back-pressure and limits', () => {
  const MSG = 64 * 1024;
  const COUNT = 2048; // 128 MiB in all
  let a: WsOrigin;
  let f: Fulcrum;
  /** the same origin behind the uWS relay, for its message limits */
  let u: Fulcrum;
  /** bytes the flooding server has handed to its socket */
  let flushed = 0;
  let sinkSeen = 0;
  before(async () => {
    a = await createWsOrigin('a', {
      onConnection: (ws, req) => {
        if (req.url === '/flood') {
          // a fast writer: as fast as its own socket takes it
          let i = 0;
          const pump = () => {
            while (i < COUNT && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1024 * 1024) {
              const b = Buffer.alloc(MSG, i & 255);
              b.writeUInt32BE(i, 0);
              ws.send(b, { binary: true });
              i++;
            }
            flushed = i * MSG - ws.bufferedAmount;
            if (i < COUNT && ws.readyState === WebSocket.OPEN) setTimeout(pump, 1);
          };
          pump();
        } else if (req.url === '/sink') {
          // a slow reader: reads nothing at all
          ws.on('message', (d: Buffer) => (sinkSeen += d.length));
          ws.pause();
        } else if (req.url === '/late-reader') {
          // reads nothing until the test resumes it, then checks every message
          let next = 0;
          ws.on('message', (d: Buffer) => {
            if (d.length !== MSG || d.readUInt32BE(0) !== next) ws.close(4000, `message ${next} damaged`);
            else if (++next === 768) ws.send('all 768');
          });
          ws.pause();
        } else if (req.url === '/too-big') {
          ws.once('message', () => ws.send(Buffer.alloc(2 * 1024 * 1024)));
        } else ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
      },
    });
    const websocket = { maxMessageBytes: 1024 * 1024, maxBufferedBytes: 4 * 1024 * 1024 };
    f = await startFulcrum(oneUpstream([a.url], { websocket }));
    // the uWS relay where a native uWS build loads (Node <= 20 here)
    if (!UWS_SKIP) u = await startFulcrum(oneUpstream([a.url], { websocket, listen: UWS, timeouts: UWS_TIMEOUTS }));
  });
  after(async () => {
    await f.stop();
    if (!UWS_SKIP) await u.stop();
    await a.close();
  });

  it('a slow client pauses a fast server: fulcrum RSS stays flat, then every message arrives in order', async () => {
    const pid = f.workerPids()[0]!;
    const ws = await wsConnect(wsUrl(f, '/flood'));
    ws.pause(); // the client reads nothing for a while
    await sleep(500);
    const rss0 = rssBytes(pid);
    const flushed0 = flushed;
    await sleep(1500);
    const rss1 = rssBytes(pid);
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.ok(flushed < (COUNT * MSG) / 2, `the server was held back (it flushed ${flushed} of ${COUNT * MSG} bytes)`);
    assert.ok(flushed - flushed0 < 8 * 1024 * 1024, `the server made little progress while paused (${flushed - flushed0} bytes)`);
    assert.ok(rss1 - rss0 < 16 * 1024 * 1024, `worker RSS grew by ${rss1 - rss0} bytes`);
    let next = 0;
    let bad = -1;
    const done = new Promise<void>((resolve) =>
      ws.on('message', (d: Buffer) => {
        if (d.length !== MSG || d.readUInt32BE(0) !== next) bad = next;
        if (++next === COUNT) resolve();
      }),
    );
    ws.resume();
    await done;
    assert.equal(bad, -1, 'messages in order and whole');
    ws.close();
    await closed(ws);
  });

  it('a fast client and a server that reads nothing (tunnel): the client is paused, RSS bounded, nothing lost when the server reads', {
    skip: !TUNNEL && 'the uWS relay cannot pause a client (next test)',
  }, async () => {
    const pid = f.workerPids()[0]!;
    const ws = await wsConnect(wsUrl(f, '/late-reader'));
    const server = [...a.clients].at(-1)!;
    const rss0 = rssBytes(pid);
    const chunk = Buffer.alloc(MSG, 7);
    for (let i = 0; i < 768; i++) {
      chunk.writeUInt32BE(i, 0);
      ws.send(chunk, { binary: true }); // 48 MiB, queued in the client as its socket stops taking them
    }
    await sleep(1500);
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.ok(ws.bufferedAmount > 16 * 1024 * 1024, `the client was held back (${ws.bufferedAmount} bytes still queued in it)`);
    assert.ok(rssBytes(pid) - rss0 < 16 * 1024 * 1024, `worker RSS grew by ${rssBytes(pid) - rss0} bytes`);
    const answer = nextMessage(ws);
    server.resume();
    assert.equal((await answer).data.toString(), 'all 768', 'every message reached the server whole and in order');
    ws.close();
    await closed(ws);
  });

  it('a fast client and a server that reads nothing (uWS relay): closed with 1013 past maxBufferedBytes, RSS bounded', { skip: UWS_SKIP }, async () => {
    const pid = u.workerPids()[0]!;
    const rss0 = rssBytes(pid);
    const ws = await wsConnect(wsUrl(u, '/sink'));
    const c = closed(ws);
    let stop = false;
    void c.then(() => (stop = true));
    const chunk = Buffer.alloc(MSG, 7);
    for (let i = 0; i < 4096 && !stop; i++) {
      ws.send(chunk);
      while (!stop && ws.bufferedAmount > 1024 * 1024) await sleep(2);
    }
    const r = await c;
    assert.equal(r.code, 1013);
    assert.equal(r.reason, 'buffer limit reached');
    assert.ok(rssBytes(pid) - rss0 < 48 * 1024 * 1024, `worker RSS grew by ${rssBytes(pid) - rss0} bytes`);
    assert.match(u.logs(), /buffer limit reached/);
  });

  it('closes with 1009 when a message exceeds maxMessageBytes, either way (uWS relay)', { skip: UWS_SKIP }, async () => {
    const ws = await wsConnect(wsUrl(u, '/too-big'));
    const c = closed(ws);
    ws.send('send me something big');
    assert.equal((await c).code, 1009);

    // uWS cuts a client's too-big message without a close frame (1006); the server gets 1009
    const ws2 = await wsConnect(wsUrl(u, '/echo'));
    const server = [...a.clients].at(-1)!;
    const sc = closed(server);
    const c2 = closed(ws2);
    ws2.send(Buffer.alloc(2 * 1024 * 1024));
    const r2 = await c2;
    assert.ok(r2.code === 1009 || r2.code === 1006, `close code ${r2.code}`);
    assert.equal((await sc).code, 1009);
  });
});

describe('websocket: balancing and lifecycle', () => {
  it('counts a WebSocket as in flight for least-connections', async () => {
    const a = await createWsOrigin('a');
    const b = await createWsOrigin('b');
    const f = await startFulcrum(oneUpstream([a.url, b.url], {}, { balance: 'least-connections' }));
    try {
      const ws = await wsConnect(wsUrl(f, '/hold'));
      const holder = a.accepted === 1 ? 'a' : 'b';
      for (let i = 0; i < 6; i++) {
        const r = await request(`${f.url}/x`);
        assert.notEqual(r.text, holder, 'HTTP requests avoid the server holding the WebSocket');
      }
      ws.close();
      await closed(ws);
      // the worker counts the WebSocket out when it sees the close, which under load can come
      // after the client's close event: ask again, bounded
      const seen = new Set<string>();
      for (let i = 0; i < 60 && seen.size < 2; i++) {
        seen.add((await request(`${f.url}/x`)).text);
        if (seen.size < 2 && i % 6 === 5) await sleep(100);
      }
      assert.equal(seen.size, 2, 'once it closed, both servers get requests again');
    } finally {
      await f.stop();
      await a.close();
      await b.close();
    }
  });

  it('keeps a sticky session: the 101 sets the cookie, later upgrades with it reach the same server', { timeout: 30_000 }, async () => {
    const os = [await createWsOrigin('a'), await createWsOrigin('b'), await createWsOrigin('c')];
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { sticky: { mode: 'cookie' }, servers: os.map((o) => ({ url: o.url })) } },
      routes: [{ upstream: 'app' }],
    });
    try {
      const first = new WebSocket(wsUrl(f, '/s'));
      const opened = new Promise((r) => first.once('open', r));
      const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        first.once('upgrade', resolve);
        first.once('error', reject);
      });
      const setCookie = res.headers['set-cookie']?.[0] ?? '';
      assert.match(setCookie, /^fulcrum_sid=/);
      await opened;
      const owner = os.find((o) => o.accepted === 1)!;
      first.close();
      for (let i = 0; i < 6; i++) {
        const ws = await wsConnect(wsUrl(f, '/s'), [], { headers: { cookie: setCookie.split(';')[0]! } });
        ws.close();
        await closed(ws);
      }
      assert.equal(owner.accepted, 7, 'every upgrade with the cookie reached the same server');
    } finally {
      await f.stop();
      for (const o of os) await o.close();
    }
  });

  it('applies the edge checks of HTTP: per-client connection limit, access lists', async () => {
    const a = await createWsOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { limits: { maxConnectionsPerClient: 3 }, access: { deny: ['10.0.0.0/8'] } }, {}));
    const g = await startFulcrum({ ...oneUpstream([a.url]), access: { deny: ['127.0.0.0/8'] } });
    try {
      const open = [await wsConnect(wsUrl(f, '/1')), await wsConnect(wsUrl(f, '/2')), await wsConnect(wsUrl(f, '/3'))];
      const fourth = await wsConnect(wsUrl(f, '/4')).then(
        (ws) => ws,
        (e: Error) => e,
      );
      assert.ok(fourth instanceof Error, 'a fourth WebSocket from the same client is refused');
      assert.equal(a.accepted, 3);
      open[0]!.close();
      await closed(open[0]!);
      // the worker frees the place when it sees the close, which under load can come after the
      // client's close event: a refused upgrade is tried again, bounded
      let again: WebSocket | undefined;
      for (let i = 0; i < 50 && !again; i++) {
        again = await wsConnect(wsUrl(f, '/5')).catch(() => undefined);
        if (!again) await sleep(100);
      }
      assert.ok(again, 'a fifth WebSocket opens once one has closed');
      assert.equal(a.accepted, 4, 'a closed WebSocket frees its place');
      for (const ws of [...open.slice(1), again]) ws.close();
      const denied = (await wsConnect(wsUrl(g, '/x')).catch((e: unknown) => e)) as { status: number };
      assert.equal(denied.status, 403);
      assert.equal(a.accepted, 4);
    } finally {
      await f.stop();
      await g.stop();
      await a.close();
    }
  });

  it('carries 1,000 concurrent WebSockets over 2 workers', async () => {
    const a = await createWsOrigin('a');
    // one client address here: lift the per-client limit (tested below)
    const f = await startFulcrum(oneUpstream([a.url], { workers: 2, limits: { maxConnectionsPerClient: 0 } }));
    const all: WebSocket[] = [];
    try {
      for (let batch = 0; batch < 10; batch++) {
        all.push(...(await Promise.all(Array.from({ length: 100 }, () => wsConnect(wsUrl(f, '/many'))))));
      }
      assert.equal(a.clients.size, 1000);
      const echoes = await Promise.all(
        all.map((ws, i) => {
          const m = nextMessage(ws);
          ws.send(`hello ${i}`);
          return m;
        }),
      );
      for (const [i, m] of echoes.entries()) assert.equal(m.data.toString(), `hello ${i}`);
      await Promise.all(
        all.map((ws) => {
          const c = closed(ws);
          ws.close(1000, 'done');
          return c;
        }),
      );
      await until(() => a.clients.size === 0, 'server sides closed', 5000);
    } finally {
      for (const ws of all) ws.terminate();
      await f.stop();
      await a.close();
    }
  });

  it('a reload keeps open WebSockets; new ones follow the new config', async () => {
    const a = await createWsOrigin('a');
    const b = await createWsOrigin('b');
    const f = await startFulcrum(oneUpstream([a.url]));
    try {
      const ws = await wsConnect(wsUrl(f, '/kept'));
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, upstreams: { app: { servers: [{ url: b.url }] } } }));
      assert.equal((await adminCall(f.adminUrl, 'POST', '/reload')).status, 200);
      const deadline = Date.now() + 3000;
      while (b.accepted === 0 && Date.now() < deadline) {
        const n = await wsConnect(wsUrl(f, '/new'));
        n.close();
        if (b.accepted === 0) await sleep(50);
      }
      assert.equal(b.accepted > 0, true, 'new WebSockets go to the new server');
      ws.send('after reload');
      assert.equal((await nextMessage(ws)).data.toString(), 'after reload', 'the old WebSocket still relays');
      assert.equal(ws.readyState, WebSocket.OPEN);
      ws.close();
      await closed(ws);
    } finally {
      await f.stop();
      await a.close();
      await b.close();
    }
  });

  it('on shutdown an open WebSocket keeps working until drainMs, then is closed (uWS: 1001 Going Away)', async () => {
    const a = await createWsOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { timeouts: { drainMs: 1500 } }));
    try {
      const ws = await wsConnect(wsUrl(f, '/long'));
      const serverSide = [...a.clients][0]!;
      const sc = closed(serverSide);
      const c = closed(ws);
      const t0 = Date.now();
      f.proc.kill('SIGTERM');
      await sleep(500);
      ws.send('still here');
      assert.equal((await nextMessage(ws)).data.toString(), 'still here');
      const r = await c;
      assert.equal(r.code, GOING_AWAY);
      assert.ok(r.at - t0 >= 1200, `closed ${r.at - t0} ms after SIGTERM, not before drainMs`);
      assert.equal((await sc).code, GOING_AWAY);
      const code = await f.exited;
      assert.equal(code, 0, `fulcrum exited with ${code}; its log:\n${f.logs().slice(-4000)}`);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('on shutdown the worker exits as soon as its WebSockets have closed', async () => {
    const a = await createWsOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { timeouts: { drainMs: 20000 } }));
    try {
      const ws = await wsConnect(wsUrl(f, '/long'));
      const t0 = Date.now();
      f.proc.kill('SIGTERM');
      await sleep(300);
      ws.close(1000);
      assert.equal(await f.exited, 0);
      assert.ok(Date.now() - t0 < 5000, 'exited well before drainMs');
    } finally {
      await f.stop();
      await a.close();
    }
  });
});

describe('websocket: idle timeout', () => {
  it('uWS relay: pings keep quiet hops open; a hop that answers nothing is closed after idleTimeoutMs', { timeout: 40_000, skip: UWS_SKIP }, async () => {
    const a = await createWsOrigin('a', {
      onConnection: (ws, req) => {
        if (req.url === '/deaf-server')
          (ws as unknown as { _autoPong: boolean })._autoPong = false; // never answers pings
        else echo(ws);
      },
    });
    const f = await startFulcrum(oneUpstream([a.url], { websocket: { idleTimeoutMs: 8000 }, listen: UWS, timeouts: UWS_TIMEOUTS }));
    try {
      const quiet = await wsConnect(wsUrl(f, '/quiet'));
      const deafServer = await wsConnect(wsUrl(f, '/deaf-server'));
      const deafClient = await wsConnect(wsUrl(f, '/deaf-client'), [], { autoPong: false });
      const deafClientServerSide = [...a.clients].at(-1)!;
      const t0 = Date.now();
      const [s, c] = await Promise.all([closed(deafServer), closed(deafClientServerSide)]);
      assert.equal(s.code, 1011, 'the client of a silent server is told the upstream is gone');
      assert.ok(s.at - t0 >= 7000 && s.at - t0 < 20000, `server hop closed after ${s.at - t0} ms`);
      assert.equal(c.code, 1001, 'the server of a silent client hears it went away');
      assert.ok(c.at - t0 >= 7000 && c.at - t0 < 20000, `client hop closed after ${c.at - t0} ms`);
      assert.equal(quiet.readyState, WebSocket.OPEN, 'a quiet pair that answers pings stays open');
      quiet.send('still');
      assert.equal((await nextMessage(quiet)).data.toString(), 'still');
      quiet.close();
      deafClient.terminate();
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('tunnel: no byte either way for idleTimeoutMs closes both hops; a tunnel in use stays open', { timeout: 40_000 }, async () => {
    const a = await createWsOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { websocket: { idleTimeoutMs: 8000 }, listen: FULCRUM }));
    try {
      const busy = await wsConnect(wsUrl(f, '/busy'));
      const idle = await wsConnect(wsUrl(f, '/idle'));
      const idleServerSide = [...a.clients].at(-1)!;
      const t0 = Date.now();
      const ends = Promise.all([closed(idle), closed(idleServerSide)]);
      let echoes = 0;
      while (Date.now() - t0 < 11_000) {
        const m = nextMessage(busy);
        busy.send('tick');
        if ((await m).data.toString() === 'tick') echoes++;
        await sleep(1000);
      }
      const [c, s] = await ends;
      assert.equal(c.code, 1006, 'the client hop is closed (TCP, no close frame: fulcrum does not read frames)');
      assert.equal(s.code, 1006, 'the server hop too');
      assert.ok(c.at - t0 >= 7900 && c.at - t0 < 12_000, `idle tunnel closed after ${c.at - t0} ms`);
      assert.equal(busy.readyState, WebSocket.OPEN, 'a tunnel carrying a message a second stays open');
      assert.ok(echoes >= 10);
      busy.close();
      await closed(busy);
    } finally {
      await f.stop();
      await a.close();
    }
  });
});

describe('websocket: the tunnel on raw sockets', { skip: !TUNNEL && 'the uWS relay speaks WebSocket on both hops' }, () => {
  it('passes bytes that came with either head, and a FIN each way (half-close), nothing more', async () => {
    // a raw server: answers 101 with bytes in the same write, echoes, and says "bye" after the client's FIN
    const seen: Buffer[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      let head = '';
      s.on('data', (d: Buffer) => {
        if (!head.includes('\r\n\r\n')) {
          head += d.toString('latin1');
          const at = head.indexOf('\r\n\r\n');
          if (at === -1) return;
          if (!/\r\nupgrade: websocket\r\n/i.test(head)) return void s.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'); // health checks
          s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Kept: yes\r\nKeep-Alive: timeout=5\r\n\r\nhello ');
          const rest = Buffer.from(head.slice(at + 4), 'latin1');
          seen.push(rest);
          s.write(rest);
          return;
        }
        seen.push(d);
        s.write(d);
      });
      s.on('end', () => s.end('bye'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const f = await startFulcrum(oneUpstream([`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`], { listen: FULCRUM }));
    try {
      const c = net.connect(f.port, '127.0.0.1');
      const got: Buffer[] = [];
      const ended = new Promise<void>((resolve) => c.on('end', resolve));
      c.on('data', (d: Buffer) => got.push(d));
      c.write(
        'GET /raw HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly ',
      );
      await until(() => Buffer.concat(got).includes('hello early '), 'the 101 and the first bytes', 5000);
      c.write('late');
      await until(() => Buffer.concat(got).includes('late'), 'the echo', 5000);
      c.end(); // half-close: the server still answers after it
      await ended;
      const text = Buffer.concat(got).toString('latin1');
      const at = text.indexOf('\r\n\r\n');
      const head = text.slice(0, at);
      assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.match(head, /\r\nX-Kept: yes\r\n/, 'end-to-end fields of the 101 kept');
      assert.match(head, /\r\nconnection: upgrade\r\n/i);
      assert.match(head, /\r\nupgrade: websocket/i);
      assert.doesNotMatch(head, /keep-alive:/i, 'hop-by-hop fields of the 101 dropped');
      assert.equal(text.slice(at + 4), 'hello early latebye', 'every byte, in order, the reply to the FIN included');
      assert.equal(Buffer.concat(seen).toString(), 'early late');
    } finally {
      await f.stop();
      server.close();
    }
  });
});

describe('websocket: wss:// on the TLS listener (tunnel)', { skip: !hasOpenssl() && 'openssl is not installed (certificates are made at test time)' }, () => {
  it('tunnels a wss:// WebSocket: X-Forwarded-Proto https, messages both ways, 1 MiB intact', async () => {
    const a = await createWsOrigin('a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-wss-'));
    const { cert, key } = makeCert(dir, 'ws.test');
    // three distinct ports (a port freePort returned may come back from the next call)
    const tlsPort = await freePort();
    let port = await freePort();
    while (port === tlsPort) port = await freePort();
    let adminPort = await freePort();
    while (adminPort === tlsPort || adminPort === port) adminPort = await freePort();
    const f = await startFulcrum({
      ...oneUpstream([a.url]),
      listen: { ...FULCRUM, port },
      admin: { port: adminPort },
      tls: { port: tlsPort, cert, key },
    });
    try {
      const ws = await wsConnect(`wss://127.0.0.1:${tlsPort}/secure?q=1`, ['v1'], { rejectUnauthorized: false });
      const req = a.upgrades.at(-1)!;
      assert.equal(req.url, '/secure?q=1');
      assert.equal(req.headers['x-forwarded-proto'], 'https');
      ws.send('over tls');
      assert.equal((await nextMessage(ws)).data.toString(), 'over tls');
      const big = Buffer.alloc(1024 * 1024, 9);
      big.writeUInt32BE(0xdeadbeef, 0);
      ws.send(big, { binary: true });
      const m = await nextMessage(ws);
      assert.ok(m.isBinary && m.data.equals(big), 'the 1 MiB message came back intact');
      const server = [...a.clients].at(-1)!;
      const sc = closed(server);
      ws.close(4003, 'tls bye');
      assert.equal((await sc).code, 4003);
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
