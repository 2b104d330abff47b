/**
 * Per-client connection limit across workers: busy connections beyond the limit are closed at once,
 * each with its access log line (444, reason too-many-connections).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createOrigin } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { h2connect, h2request } from './helpers/h2.js';

async function holdingOrigin() {
  const held: http.ServerResponse[] = [];
  const o = await createOrigin('hold', (req, res) => {
    if (req.url === '/hold') held.push(res);
    else res.end('ok');
  });
  return {
    o,
    held,
    release: () => {
      for (const r of held.splice(0)) r.end('done');
    },
  };
}

async function burst(url: string, n: number) {
  const outcomes = await Promise.all(
    Array.from({ length: n }, () =>
      request(url, { timeoutMs: 8000 }).then(
        (r) => r.status,
        () => 'closed' as const,
      ),
    ),
  );
  return outcomes;
}

describe('per-client connection limit', () => {
  for (const workers of [1, 2]) {
    it(`serves at most maxConnectionsPerClient (+ workers - 1) busy connections with ${workers} worker(s); the excess is closed at once`, async () => {
      const { o, held, release } = await holdingOrigin();
      const limit = 3;
      const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'fulcrum-conn-')), 'access.log');
      const f = await startFulcrum(oneUpstream([o.url], { workers, limits: { maxConnectionsPerClient: limit }, logging: { access: file } }));
      try {
        const pending = burst(`${f.url}/hold`, 8);
        // wait until the admitted ones reached the origin and the others were closed
        const t0 = Date.now();
        while (held.length < limit - (workers - 1) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 500));
        const admitted = held.length;
        release();
        const outcomes = await pending;
        const served = outcomes.filter((s) => s === 200).length;
        assert.equal(served, admitted);
        assert.equal(outcomes.filter((s) => s === 'closed').length, 8 - served);
        if (workers === 1) assert.equal(served, limit);
        else assert.ok(served >= 1 && served <= limit + workers - 1, `served ${served}`);
        // once they finished, the client is served again
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await request(`${f.url}/after`)).status, 200);
        // a line for every request: the served ones, each closed one as 444, /after
        const lines = (): Record<string, unknown>[] =>
          existsSync(file)
            ? readFileSync(file, 'utf8')
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l))
            : [];
        for (const deadline = Date.now() + 5000; lines().length < 9 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
        const closedLines = lines().filter((e) => e.status === 444);
        assert.equal(lines().length, 9);
        assert.equal(closedLines.length, 8 - served);
        for (const e of closedLines) assert.deepEqual([e.reason, e.route, e.path], ['too-many-connections', '*/', '/hold']);
      } finally {
        release();
        await f.stop();
        await o.close();
      }
    });
  }

  // What counts is a connection while it has a request in flight: an HTTP/2 connection counts
  // once, however many streams it carries (http2.maxConcurrentStreams bounds those).
  it('HTTP/2: one connection counts once, however many streams it has in flight (limit 2, 2 workers)', async () => {
    const o = await createOrigin('fast', (_req, res) => res.end('ok'));
    const f = await startFulcrum(oneUpstream([o.url], { workers: 2, listen: { h2c: true }, limits: { maxConnectionsPerClient: 2 } }));
    const s = await h2connect(f.url);
    try {
      let bursts = 0;
      let refused = 0;
      for (const end = Date.now() + 1000; Date.now() < end && bursts < 200; bursts++) {
        const rs = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => h2request(s, { ':path': `/b${i}` })));
        refused += rs.filter((r) => r.status === 'rejected' || r.value.status !== 200).length;
      }
      assert.ok(bursts >= 5, `only ${bursts} bursts in a second`);
      assert.equal(refused, 0, `${refused} of ${bursts * 40} streams refused`);
    } finally {
      s.close();
      await f.stop();
      await o.close();
    }
  });

  // Connections that go busy and idle together swing a worker's count between 0 and the client's
  // real load many times between two pushes of the cluster totals. A count taken in a dip, set
  // against a total that still held the same connections, once refused a client under the limit.
  it('keep-alive connections in lock-step just under the limit, for a second, are never refused', async () => {
    const o = await createOrigin('fast', (_req, res) => res.end('ok'));
    const limit = 16;
    const f = await startFulcrum(oneUpstream([o.url], { limits: { maxConnectionsPerClient: limit } }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: limit - 2 });
    const get = (p: string) =>
      new Promise<number | 'closed'>((resolve) => {
        const req = http.get(`${f.url}${p}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve('closed'));
      });
    try {
      let bursts = 0;
      let refused = 0;
      for (const end = Date.now() + 1000; Date.now() < end && bursts < 200; bursts++) {
        const rs = await Promise.all(Array.from({ length: limit - 2 }, (_, i) => get(`/b${i}`)));
        refused += rs.filter((r) => r !== 200).length;
      }
      assert.ok(bursts >= 5, `only ${bursts} bursts in a second`);
      assert.equal(refused, 0, `${refused} of ${bursts * (limit - 2)} requests refused`);
    } finally {
      agent.destroy();
      await f.stop();
      await o.close();
    }
  });
});
