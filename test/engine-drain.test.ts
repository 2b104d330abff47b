/**
 * A worker roll under keep-alive load, on the default engine: a reload from 2 workers to 1 retires
 * a worker while 32 keep-alive clients keep sending. The retiring worker answers each connection's
 * current request with Connection: close and closes it, and closes idle ones at once, so every
 * client reconnects (to the worker that stays) instead of meeting a reset when drainMs ends. The
 * uWS front left its connections open there (34 of 64 reset in one reload, issue 19).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall } from './helpers/client.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { createOrigin } from './helpers/origin.js';

describe('worker roll under keep-alive load', () => {
  it('a reload from 2 workers to 1 loses no request: connections of the retired worker close after their answer', { timeout: 60_000 }, async (t) => {
    const a = await createOrigin('a');
    const f = await startFulcrum({
      workers: 2,
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [{ upstream: 'app' }],
      timeouts: { drainMs: 3000 },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    let ok = 0;
    let closes = 0;
    const errors: string[] = [];
    let running = true;
    let retried = 0;
    /** when each client connection closed */
    const closedAt: number[] = [];
    // a client that meets a closed kept-alive connection as it sends retries the (idempotent)
    // request, as browsers do (RFC 9112 9.3.1; node's agent may hand the retry another kept-alive
    // connection closed in the same instant, so up to 3 times); a failure on a connection's first
    // request, or a 4th, is a failure
    const one = (i: number, attempt = 1): Promise<void> =>
      new Promise<void>((resolve) => {
        // the request's place on its socket: 1 for the first (node's reusedSocket misses a socket
        // handed over from the agent's queue, so count here)
        let nth = 0;
        const req = http.get(`${f.url}/r${i}`, { agent }, (res) => {
          if (res.headers.connection === 'close') closes++;
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            else errors.push(`status ${res.statusCode}`);
            resolve();
          });
        });
        req.on('socket', (so: net.Socket & { served?: number }) => {
          nth = so.served = (so.served ?? 0) + 1;
          if (nth === 1) so.once('close', () => closedAt.push(Date.now()));
        });
        req.on('error', (e: NodeJS.ErrnoException) => {
          if (nth > 1 && attempt < 4 && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
            retried++;
            resolve(one(i, attempt + 1));
            return;
          }
          errors.push(`${e.code ?? e.message} on request ${nth} of its connection, attempt ${attempt}`);
          resolve();
        });
      });
    // 32 clients, each sending requests one after another on its kept-alive connection; bounded
    const clients = Array.from({ length: 32 }, async (_, c) => {
      const end = Date.now() + 20_000;
      for (let i = 0; running && i < 2000 && Date.now() < end; i++) await one(c * 10_000 + i);
    });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const before = ok;
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      cfg.workers = 1;
      writeFileSync(f.configFile, JSON.stringify(cfg));
      const reloadAt = Date.now();
      const r = await adminCall(f.adminUrl, 'POST', '/reload');
      assert.equal(r.status, 200, r.text);
      // keep the load on through the retired worker's drain time
      await new Promise((r) => setTimeout(r, 4000));
      running = false;
      await Promise.all(clients);
      assert.ok(ok > before, 'requests went on after the reload');
      assert.deepEqual(errors, [], `${errors.length} requests failed (of ${ok + errors.length})`);
      // the retired worker closed its connections well before drainMs (3 s) ended: after an
      // answer with Connection: close, or at once when idle (which of the two depends on timing)
      const closedEarly = closedAt.filter((at) => at >= reloadAt && at < reloadAt + 2500).length;
      assert.ok(closes + closedEarly >= 1, `the retired worker closed its connections before drainMs (${closes} Connection: close, ${closedEarly} closed)`);
      // idle connections close at once on drain (as nginx's do): a client that sent on one in that
      // instant retried it on a new connection, which is what HTTP clients do (counted, not failed)
      t.diagnostic(`${ok} requests, ${closes} answers with Connection: close, ${closedAt.length} connections closed, ${retried} retried after an idle close`);
    } finally {
      running = false;
      agent.destroy();
      await f.stop();
      await a.close();
    }
  });
});
