/**
 * HTTP/2 clients that stop reading, through the real `fulcrum start` on fulcrum's own frame layer:
 * the worker's memory must stay bounded by flow control and socket backpressure (RFC 9113 5.2),
 * not grow with what the backend has to send, and a well-behaved client must be served meanwhile.
 *
 * 20 connections × 10 streams ask for 2 MiB each (400 MiB in all) with the largest windows
 * (INITIAL_WINDOW_SIZE 2^31-1), so only socket backpressure stops fulcrum, and never read. What the
 * code lets the worker hold: per stream HIGH_WATER (64 KiB, stream-exchange.ts) + one upstream read
 * (64 KiB); per connection SOCKET_HIGH (256 KiB, frame-writer.ts) + a turn's OUT_HIGH (256 KiB,
 * conn.ts) + an arena (64 KiB); the worker's arena pool (16 MiB): 52 MiB for 200 streams. The test
 * allows 96 MiB of growth in the worker's VmRSS (the rest: TLS state and heap growth under the
 * load; measured +41 MiB, BENCHMARKS.md "HTTP/2 soak"), far below the ~280 MiB or more an
 * unbounded worker would show (400 MiB less what loopback's socket buffers take).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasOpenssl, makeCert } from './helpers/certs.js';
import { type Fulcrum, oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { Frame, frame, h2connect, h2request, RawH2 } from './helpers/h2.js';
import { createOrigin, freePort, type Origin } from './helpers/origin.js';

const BIG = Buffer.alloc(2 * 1024 * 1024, 'b');
const CONNECTIONS = 20;
const STREAMS = 10;
const MAX_GROWTH = 96 * 1024 * 1024;

function rss(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) sum += Number(m[1]) * 1024;
  }
  return sum;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

describe('HTTP/2 clients that stop reading (http2.implementation fulcrum)', {
  skip: process.platform !== 'linux' ? 'reads /proc' : hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)',
}, () => {
  let origin: Origin;
  let f: Fulcrum;
  let url: string;
  let port: number;
  before(async () => {
    origin = await createOrigin('o', (req, res) => {
      if (req.url === '/big') res.end(BIG);
      else res.end('small');
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-h2-slow-'));
    const { cert, key } = makeCert(dir, 'localhost');
    port = await freePort();
    f = await startFulcrum(
      oneUpstream([origin.url], {
        workers: 1,
        tls: { port, cert, key },
        logging: { access: 'off' },
        http2: { implementation: 'fulcrum' },
        limits: { maxConnectionsPerClient: 0 },
      }),
    );
    url = `https://127.0.0.1:${port}`;
  });
  after(async () => {
    await f?.stop();
    await origin?.close();
  });

  it('200 stalled streams of 2 MiB: worker RSS grows by less than 96 MiB, another client is served meanwhile', async () => {
    const good = await h2connect(url);
    const stalled: RawH2[] = [];
    try {
      // warm: the same responses, read, on as many streams (pools, the heap's first growth)
      for (let k = 0; k < 2; k++) {
        const rs = await Promise.all(Array.from({ length: STREAMS }, () => h2request(good, { ':path': '/big' }, undefined, 10_000)));
        for (const r of rs) assert.equal(r.body.length, BIG.length);
      }
      const pids = f.workerPids();
      assert.equal(pids.length, 1);
      const before = rss(pids);
      for (let c = 0; c < CONNECTIONS; c++) {
        const s = await RawH2.open(port, true);
        s.socket.pause();
        s.send(
          Buffer.concat([
            frame(Frame.Settings, 0, 0, Buffer.from([0, 4, 0x7f, 0xff, 0xff, 0xff])),
            frame(Frame.Settings, 1, 0),
            frame(8, 0, 0, u32(0x7fffffff - 65535)),
          ]),
        );
        for (let i = 0; i < STREAMS; i++)
          s.request(1 + 2 * i, [
            [':method', 'GET'],
            [':scheme', 'https'],
            [':authority', 'localhost'],
            [':path', '/big'],
          ]);
        stalled.push(s);
      }
      // while they stall: the other client is served, and the worker's RSS is sampled
      let peak = before;
      const until = Date.now() + 2500;
      let served = 0;
      while (Date.now() < until) {
        const r = await h2request(good, { ':path': '/small' });
        assert.equal(r.body.toString(), 'small');
        served++;
        peak = Math.max(peak, rss(pids));
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(served >= 5, `the well-behaved client got ${served} answers in 2.5 s`);
      assert.ok(
        peak - before < MAX_GROWTH,
        `worker RSS grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB with ${CONNECTIONS * STREAMS} stalled streams (limit ${MAX_GROWTH / 2 ** 20} MiB)`,
      );
      for (const s of stalled) assert.equal(s.closed, false, 'a slow client is not cut off');
    } finally {
      for (const s of stalled) s.destroy();
      good.close();
    }
    // and after they left, the worker still serves
    const s = await h2connect(url);
    try {
      assert.equal((await h2request(s, { ':path': '/big' }, undefined, 10_000)).body.length, BIG.length);
    } finally {
      s.close();
    }
  });
});
