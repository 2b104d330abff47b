/**
 * The opt-in uWS engine (listen.engine "uws") still proxies: a smoke suite over what every user
 * relies on (requests with bodies both ways, a streamed download, errors with a request id, the
 * edge answers, a reload), so that the engine kept for comparison keeps working. The full suite
 * runs on the default engine; `FULCRUM_TEST_ENGINE=uws node scripts/run-tests.mjs <file>` runs
 * any other file on this one.
 *
 * Skips where no native uWS build loads (Node 22 and 24: the only build that loads on this
 * platform ships binaries for Node <= 20).
 */
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { echoed, request } from './helpers/client.js';
import { type Fulcrum, oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { createOrigin, deadPort, type Origin } from './helpers/origin.js';
import { UWS_SKIP } from './helpers/uws.js';

const BIG = randomBytes(8 * 1024 * 1024);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the uWS engine (listen.engine "uws"): smoke', { skip: UWS_SKIP }, () => {
  let a: Origin;
  let f: Fulcrum;
  let dead = 0;

  before(async () => {
    a = await createOrigin('a', (req, res, o) => {
      if (req.url === '/big') {
        res.setHeader('content-type', 'application/octet-stream');
        // streamed in pieces, no Content-Length: chunked to fulcrum
        let i = 0;
        const step = () => {
          while (i < BIG.length) {
            const next = Math.min(BIG.length, i + 256 * 1024);
            const ok = res.write(BIG.subarray(i, next));
            i = next;
            if (!ok) return void res.once('drain', step);
          }
          res.end();
        };
        step();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('x-origin', o.label);
        res.setHeader('x-body-sha', sha(Buffer.concat(chunks)));
        res.end(JSON.stringify({ origin: o.label, method: req.method, url: req.url, headers: req.headers, bodyLength: Buffer.concat(chunks).length }));
      });
    });
    dead = await deadPort();
    f = await startFulcrum({
      ...oneUpstream([a.url]),
      listen: { engine: 'uws' },
      upstreams: {
        app: { servers: [{ url: a.url }] },
        gone: { servers: [{ url: `http://127.0.0.1:${dead}` }], retries: 0 },
      },
      routes: [
        { host: '*', pathPrefix: '/gone', upstream: 'gone' },
        { host: 'app.test', pathPrefix: '/', upstream: 'app' },
      ],
    });
  });

  after(async () => {
    await f?.stop();
    await a?.close();
  });

  it('runs on uWS, as the log says', () => {
    const started = f.logLines().find((l) => l.msg === 'fulcrum started')!;
    assert.equal(started.engine, 'uws');
    assert.match(String(started.build), /uws|uwebsockets/i);
  });

  it('proxies GET and a 1 MiB POST, byte for byte', async () => {
    const g = await request(`${f.url}/x?y=1`, { headers: { host: 'app.test' } });
    assert.equal(g.status, 200);
    assert.equal(echoed(g).url, '/x?y=1');
    const body = randomBytes(1024 * 1024);
    const p = await request(`${f.url}/up`, { method: 'POST', body, headers: { host: 'app.test', 'content-type': 'application/octet-stream' } });
    assert.equal(p.status, 200);
    assert.equal(p.headers['x-body-sha'], sha(body));
  });

  it('streams an 8 MiB chunked download intact', async () => {
    const r = await request(`${f.url}/big`, { headers: { host: 'app.test' }, timeoutMs: 30_000 });
    assert.equal(r.status, 200);
    assert.equal(sha(r.body), sha(BIG));
  });

  it('answers a dead server with 502 and a request id, an unknown host with 404', async () => {
    const r = await request(`${f.url}/gone/x`, { headers: { host: 'other.test' } });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['x-request-id']), /\S/);
    const n = await request(`${f.url}/`, { headers: { host: 'other.test' } });
    assert.equal(n.status, 404);
  });
});
