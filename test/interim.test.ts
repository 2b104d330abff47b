/**
 * Interim responses (RFC 9110 15.2): a server's 103 Early Hints or 102 Processing reaches an
 * HTTP/1.1 client before the final response, with its end-to-end fields; HTTP/1.0 clients get
 * none (RFC 9110 15.2: a server must not send them a 1xx); a cached route stores only the final
 * response (RFC 9111 3: interim responses are never stored), so a hit carries no 103.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Fulcrum, startFulcrum } from './helpers/fulcrum.js';
import { createRawOrigin, type RawOrigin } from './helpers/origin.js';
import { rawExchange } from './helpers/raw.js';

const FINAL = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: max-age=60\r\nContent-Length: 5\r\n\r\nfinal';

describe('interim responses (1xx)', () => {
  let o: RawOrigin;
  let f: Fulcrum;
  before(async () => {
    o = await createRawOrigin((sock, head) => {
      const path = head.split(' ')[1];
      if (path?.includes('/hints')) sock.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nConnection: keep-alive\r\n\r\n');
      if (path?.includes('/processing')) sock.write('HTTP/1.1 102 Processing\r\n\r\n');
      // the final answer a moment later, in its own packet
      setTimeout(() => sock.write(FINAL), 30);
    });
    f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: o.url }] } },
      routes: [
        { host: '*', pathPrefix: '/cached', upstream: 'app', cache: true },
        { host: '*', pathPrefix: '/', upstream: 'app' },
      ],
    });
  });
  after(async () => {
    await f?.stop();
    await o?.close();
  });

  const get = (path: string, version = '1.1') =>
    rawExchange(f.port, `GET ${path} HTTP/${version}\r\nHost: a.test\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 }).then((r) => r.data.toString('latin1'));

  it('relays 103 Early Hints with its Link field, then the final response', async () => {
    const got = await get('/hints');
    assert.match(got, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(got.split('\r\n\r\n')[0]!, /connection/i, 'hop-by-hop fields of the 103 are not relayed');
    assert.ok(got.endsWith('final'));
  });

  it('relays 102 Processing', async () => {
    const got = await get('/processing');
    assert.match(got, /^HTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  });

  it('sends no 1xx to an HTTP/1.0 client', async () => {
    const got = await get('/hints', '1.0');
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(got.endsWith('final'));
  });

  it('caches the final response only: a hit carries no 103', async () => {
    const miss = await get('/cached/hints');
    assert.match(miss, /^HTTP\/1\.1 103 Early Hints\r\n/);
    const hits = o.hits;
    const hit = await get('/cached/hints');
    assert.equal(o.hits, hits, 'served from the cache');
    assert.match(hit, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(hit.endsWith('final'));
  });
});
