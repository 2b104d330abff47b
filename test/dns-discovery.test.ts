/**
 * DNS discovery end to end: a tiny DNS server on loopback (test/helpers/dns.ts) whose answers
 * change; fulcrum resolves the server's host name at start and every dnsRefreshMs, adds the
 * addresses that appear and removes those that disappear; SRV records give ports and weights.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createOrigin, freePort } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';
import { startDns } from './helpers/dns.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** an origin on a given loopback address that answers with its name */
function namedOrigin(name: string, host: string, port: number): Promise<http.Server> {
  const s = http.createServer((_req, res) => res.end(name));
  return new Promise((resolve) => s.listen(port, host, () => resolve(s)));
}

describe('dns discovery', () => {
  it('A records: addresses that appear join, addresses that disappear leave', async () => {
    const port = await freePort();
    const two = await namedOrigin('two', '127.0.0.2', port);
    const three = await namedOrigin('three', '127.0.0.3', port);
    const dns = await startDns({ A: { 'app.test': ['127.0.0.2'] } });
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: `http://app.test:${port}` }], discovery: { dnsRefreshMs: 200, resolvers: [dns.address] } } },
      routes: [{ upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 4; i++) assert.equal((await request(`${f.url}/`)).text, 'two');
      dns.records.A!['app.test'] = ['127.0.0.2', '127.0.0.3'];
      const seen = new Set<string>();
      await until(async () => {
        seen.add((await request(`${f.url}/`)).text);
        return seen.has('three');
      }, 'the new address joins');
      const list = JSON.parse((await request(`${f.adminUrl}/upstreams/app/servers`)).text) as { url: string }[];
      assert.deepEqual(list.map((s) => s.url).sort(), [`http://127.0.0.2:${port}`, `http://127.0.0.3:${port}`]);
      dns.records.A!['app.test'] = ['127.0.0.3'];
      await until(async () => JSON.parse((await request(`${f.adminUrl}/upstreams/app/servers`)).text).length === 1, 'the old address leaves');
      // the worker runs the new list a moment after the primary shows it (prepared, then committed):
      // two answers in a row from "three" cannot come from a round-robin over both
      await until(async () => (await request(`${f.url}/`)).text === 'three' && (await request(`${f.url}/`)).text === 'three', 'the worker runs the new list');
      for (let i = 0; i < 6; i++) assert.equal((await request(`${f.url}/`)).text, 'three');
      // a failing resolver keeps the last addresses
      delete dns.records.A!['app.test'];
      await sleep(600);
      assert.equal((await request(`${f.url}/`)).text, 'three');
      assert.match(f.logs(), /dns discovery: servers changed/);
    } finally {
      await f.stop();
      await dns.close();
      await new Promise((r) => two.close(r));
      await new Promise((r) => three.close(r));
    }
  });

  it('SRV records give each server its port and weight', async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const dns = await startDns({
      SRV: {
        '_http._tcp.svc.test': [
          [10, 3, Number(new URL(a.url).port), 'a.svc.test'],
          [10, 1, Number(new URL(b.url).port), 'b.svc.test'],
        ],
      },
      A: { 'a.svc.test': ['127.0.0.1'], 'b.svc.test': ['127.0.0.1'] },
    });
    const f = await startFulcrum({
      workers: 1,
      upstreams: {
        app: { balance: 'round-robin', servers: [{ url: 'http://svc.test' }], discovery: { srv: true, dnsRefreshMs: 200, resolvers: [dns.address] } },
      },
      routes: [{ upstream: 'app' }],
    });
    try {
      const list = JSON.parse((await request(`${f.adminUrl}/upstreams/app/servers`)).text) as { url: string; weight: number }[];
      assert.deepEqual(
        list.map((s) => [s.url, s.weight]).sort(),
        [
          [a.url, 3],
          [b.url, 1],
        ].sort(),
      );
      const counts: Record<string, number> = {};
      for (let i = 0; i < 8; i++) {
        const o = echoed(await request(`${f.url}/`)).origin;
        counts[o] = (counts[o] ?? 0) + 1;
      }
      assert.deepEqual(counts, { a: 6, b: 2 });
    } finally {
      await f.stop();
      await dns.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
