/**
 * Per-client connection limit across workers: busy connections beyond the limit are closed at once,
 * each with its access log line (444, reason too-many-connections).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createOrigin } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

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
});
