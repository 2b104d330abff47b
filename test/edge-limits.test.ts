/**
 * Size limits and slow-client timeouts, through the real process tree.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createOrigin, type Origin } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { rawExchange, statusOf } from './helpers/raw.js';

describe('limits and timeouts', () => {
  let a: Origin;
  let f: Fulcrum;
  before(async () => {
    a = await createOrigin('a', (req, res) => {
      if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 3000);
        return;
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    f = await startFulcrum(
      oneUpstream([a.url], {
        limits: { maxUrlBytes: 100, maxHeaders: 12, maxHeaderBytes: 1024, maxBodyBytes: 1000 },
        timeouts: { bodyIdleMs: 500, requestMs: 1500 },
      }),
    );
  });
  after(async () => {
    await f.stop();
    await a.close();
  });

  it('414 for a target longer than maxUrlBytes, counting the query', async () => {
    assert.equal((await request(`${f.url}/${'a'.repeat(90)}`)).status, 200);
    const before = a.hits;
    assert.equal((await request(`${f.url}/${'a'.repeat(60)}?q=${'b'.repeat(60)}`)).status, 414);
    assert.equal(a.hits, before);
  });

  it('431 for more header fields than maxHeaders, or more bytes than maxHeaderBytes', async () => {
    const before = a.hits;
    const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`x-h${i}`, 'v']));
    assert.equal((await request(`${f.url}/`, { headers: many })).status, 431);
    assert.equal((await request(`${f.url}/`, { headers: { 'x-big': 'v'.repeat(1100) } })).status, 431);
    assert.equal(a.hits, before);
    assert.equal((await request(`${f.url}/`, { headers: { 'x-big': 'v'.repeat(900) } })).status, 200);
  });

  it('413 from Content-Length before anything is forwarded', async () => {
    const before = a.hits;
    const r = await rawExchange(f.port, `POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n${'x'.repeat(1001)}`);
    assert.equal(statusOf(r.data), 413);
    assert.ok(r.closed);
    assert.equal(a.hits, before);
    assert.equal((await request(`${f.url}/up`, { method: 'POST', body: 'x'.repeat(1000) })).text, 'got 1000');
  });

  it('413 while streaming a chunked body past maxBodyBytes; the server never gets it whole', async () => {
    const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
    const r = await rawExchange(
      f.port,
      `POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('a'.repeat(600))}${chunk('b'.repeat(600))}0\r\n\r\n`,
    );
    assert.equal(statusOf(r.data), 413);
    assert.ok(r.closed);
    const ok = await rawExchange(
      f.port,
      `POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('a'.repeat(500))}${chunk('b'.repeat(500))}0\r\n\r\n`,
      {
        until: (b) => b.toString().endsWith('got 1000'),
      },
    );
    assert.equal(statusOf(ok.data), 200);
  });

  it('408 and close when the body stops arriving for bodyIdleMs', async () => {
    const t0 = Date.now();
    const r = await rawExchange(f.port, `POST /idle HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc`, { timeoutMs: 5000 });
    assert.equal(statusOf(r.data), 408);
    assert.ok(r.closed);
    assert.ok(Date.now() - t0 < 4000);
  });

  it('504 when the whole request takes longer than requestMs', async () => {
    const r = await request(`${f.url}/slow`);
    assert.equal(r.status, 504);
  });

  it('cuts off a slowloris client (one header byte every 200 ms) while others are served', async () => {
    const head = Buffer.from(`GET /loris HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(300)}\r\n\r\n`);
    const loris = new Promise<{ sent: number; got: string; ms: number }>((resolve) => {
      const t0 = Date.now();
      const s = net.connect(f.port, '127.0.0.1');
      let i = 0;
      let got = '';
      const iv = setInterval(() => {
        if (i < head.length && !s.destroyed) s.write(head.subarray(i, ++i));
      }, 200);
      const done = () => {
        clearInterval(iv);
        clearTimeout(giveUp);
        s.destroy();
        resolve({ sent: i, got, ms: Date.now() - t0 });
      };
      const giveUp = setTimeout(done, 25_000);
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', done);
      s.on('close', done);
    });
    // normal clients keep being served while the slow one trickles
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let served = 0;
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      const r = await request(`${f.url}/normal`, { agent });
      assert.equal(r.status, 200);
      served++;
      await new Promise((res) => setTimeout(res, 50));
    }
    agent.destroy();
    const l = await loris;
    assert.ok(served > 20, `served ${served}`);
    assert.ok(l.ms < 20_000, `slow client cut off after ${l.ms} ms`);
    assert.ok(l.sent < head.length, 'cut off before the head was complete');
    // fulcrum's engine answers 408 and closes (timeouts.headerMs, counted from the first byte); uWS closes without a word
    if (process.env.FULCRUM_TEST_ENGINE === 'uws') assert.equal(l.got, '', 'uWS closes without a response');
    else assert.match(l.got, /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*connection: close\r\n/i);
    assert.ok(!a.requests.some((q) => q.url === '/loris'));
  });
});
