/**
 * Access control: allow/deny CIDR lists (global and per route, IPv4/IPv6, v4-mapped), deny
 * actions, list files, runtime changes through the admin API and reload.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createOrigin } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { adminCall, request } from './helpers/client.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { CidrSet, parseCidr } from '../src/net/cidr.js';

describe('access control', () => {
  it('denies a listed client with 403 before any server is asked; deny wins over allow', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { access: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] } }));
    try {
      const r = await request(`${f.url}/x`);
      assert.equal(r.status, 403);
      assert.equal(r.text, '403 Forbidden\n');
      assert.equal(a.hits, 0);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('an allow list denies everyone else; denyAction "close" closes without a response', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { access: { allow: ['10.0.0.0/8', '2001:db8::/32'], denyAction: 'close' } }));
    try {
      const r = await rawExchange(f.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(r.data.length, 0);
      assert.ok(r.closed);
      assert.equal(a.hits, 0);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('per-route lists: a private route is refused while the rest is served', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [
        { host: '*', pathPrefix: '/', upstream: 'app' },
        { host: '*', pathPrefix: '/internal/', upstream: 'app', access: { allow: ['10.0.0.0/8'] } },
      ],
    });
    try {
      assert.equal((await request(`${f.url}/public`)).status, 200);
      assert.equal((await request(`${f.url}/internal/x`)).status, 403);
      // the routing form of the path decides: no slipping past with dot segments
      assert.equal((await request(`${f.url}/public/../internal/x`)).status, 403);
      assert.equal(a.hits, 1);
      // nor with the forms some servers resolve and others do not (issue 16): path parameters
      // (Tomcat, Jetty), backslashes (IIS, WHATWG), encoded separators (nginx decodes %2F). Raw
      // bytes, because an HTTP client would rewrite "\\" itself.
      const forms = [
        '/public/..;/internal/x',
        '/public/..\\internal/x',
        '/public/..%5Cinternal/x',
        '/public/..%2Finternal/x',
        '/internal;a=b/x',
        '/internal%2Fx',
      ];
      for (const target of forms) {
        const r = await rawExchange(f.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(statusOf(r.data), 403, `${target}: ${r.data.toString('latin1').split('\r\n')[0]}`);
      }
      assert.equal(a.hits, 1, 'none of them reached the server');
      // path parameters elsewhere still route as before (forwarded as sent)
      const jsession = await rawExchange(f.port, 'GET /public;jsessionid=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(statusOf(jsession.data), 200);
      assert.match(jsession.data.toString('latin1'), /"url":"\/public;jsessionid=1"/);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('matches IPv6 clients and IPv4 clients on a dual-stack listener (v4-mapped)', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { listen: { host: '::' }, access: { deny: ['::1/128'] } }));
    try {
      const v6 = await request(`http://[::1]:${f.port}/`);
      assert.equal(v6.status, 403);
      const v4 = await request(`http://127.0.0.1:${f.port}/`);
      assert.equal(v4.status, 200);
    } finally {
      await f.stop();
      await a.close();
    }
    const b = await createOrigin('b');
    const f2 = await startFulcrum(oneUpstream([b.url], { listen: { host: '::' }, access: { deny: ['127.0.0.0/8'] } }));
    try {
      assert.equal((await request(`http://127.0.0.1:${f2.port}/`)).status, 403, 'v4-mapped ::ffff:127.0.0.1 matches 127.0.0.0/8');
      assert.equal((await request(`http://[::1]:${f2.port}/`)).status, 200);
    } finally {
      await f2.stop();
      await b.close();
    }
  });

  it('reads lists from a file, changes them at runtime through the admin API, and a reload reads the file again', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { access: { denyFile: 'deny.txt' } }), {
      beforeStart: (dir) => writeFileSync(path.join(dir, 'deny.txt'), '# blocked\n\n198.51.100.0/24\n127.0.0.0/8  # loopback\n'),
    });
    try {
      assert.equal((await request(`${f.url}/`)).status, 403);
      const got = JSON.parse((await request(`${f.adminUrl}/access`)).text);
      assert.deepEqual(got.deny, ['198.51.100.0/24', '127.0.0.0/8']);
      const bad = await adminCall(f.adminUrl, 'PUT', '/access', { deny: ['300.1.1.1'] });
      assert.equal(bad.status, 422);
      assert.match(bad.text, /\$\.deny\[0\]/);
      const put = await adminCall(f.adminUrl, 'PUT', '/access', { deny: ['198.51.100.0/24'] });
      assert.equal(put.status, 200);
      assert.equal((await request(`${f.url}/`)).status, 200);
      const status = JSON.parse((await request(`${f.adminUrl}/status`)).text);
      assert.equal(status.access.deny, 1);
      const reload = await adminCall(f.adminUrl, 'POST', '/reload');
      assert.equal(reload.status, 200);
      assert.equal((await request(`${f.url}/`)).status, 403);
    } finally {
      await f.stop();
      await a.close();
    }
  });
});

describe('CidrSet', () => {
  it('agrees with a linear scan over 10,000 random ranges, IPv4 and IPv6', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const byte = () => Math.floor(rnd() * 256);
    const list: string[] = [];
    for (let i = 0; i < 9000; i++) list.push(`${byte()}.${byte()}.${byte()}.0/${8 + Math.floor(rnd() * 25)}`);
    for (let i = 0; i < 1000; i++) list.push(`2001:db8:${Math.floor(rnd() * 65536).toString(16)}::/${32 + Math.floor(rnd() * 97)}`);
    const set = CidrSet.fromStrings(list);
    const parsed = list.map((s) => parseCidr(s)!);
    const naive = (b: Uint8Array) =>
      parsed.some((c) => {
        const v4 = b.length === 4;
        if (v4 !== c.v4) return false;
        for (let bit = 0; bit < c.prefix; bit++) {
          const byteVal = b[bit >> 3]!;
          const netWord = c.words[bit >> 5]!;
          if (((byteVal >> (7 - (bit & 7))) & 1) !== ((netWord >>> (31 - (bit & 31))) & 1)) return false;
        }
        return true;
      });
    let hits = 0;
    for (let i = 0; i < 3000; i++) {
      const b =
        i % 4 === 0 ? Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...Array.from({ length: 12 }, byte)]) : Uint8Array.from([byte(), byte(), byte(), byte()]);
      const want = naive(b);
      if (want) hits++;
      assert.equal(set.has(b), want, Array.from(b).join('.'));
      if (b.length === 4) assert.equal(set.has(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b])), want, 'v4-mapped');
    }
    assert.ok(hits > 100 && hits < 2900, `both outcomes exercised (${hits})`);
  });
});
