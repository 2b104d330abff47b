/**
 * Hiding the servers: stripped response headers, fulcrum's Server header, error pages from files.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createOrigin, deadPort } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

const leaky = () =>
  createOrigin('leaky', (req, res) => {
    res.setHeader('Server', 'secret-backend/1.2.3');
    if (req.url!.startsWith('/cached/')) {
      res.setHeader('Cache-Control', 'max-age=60');
      res.setHeader('Content-Type', 'text/plain');
      res.setHeader('X-Powered-By', 'PHP/5.1');
      res.end('x'.repeat(4000));
      return;
    }
    res.setHeader('X-Powered-By', 'PHP/5.1');
    res.setHeader('X-Backend-Host', '10.1.2.3');
    res.setHeader('X-Kept', 'yes');
    res.end('ok');
  });

describe('hiding the servers', () => {
  it('strips Server and X-Powered-By by default', async () => {
    const a = await leaky();
    const f = await startFulcrum(oneUpstream([a.url]));
    try {
      const r = await request(`${f.url}/`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.server, undefined);
      assert.equal(r.headers['x-powered-by'], undefined);
      assert.equal(r.headers['x-backend-host'], '10.1.2.3');
      assert.equal(r.headers['x-kept'], 'yes');
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('hides the servers on cached and compressed responses too', async () => {
    const a = await leaky();
    const f = await startFulcrum({
      workers: 1,
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app', cache: true }],
      responses: { serverHeader: 'fulcrum' },
    });
    try {
      for (const enc of ['identity', 'gzip', 'identity', 'gzip']) {
        const r = await request(`${f.url}/cached/x`, { headers: { 'accept-encoding': enc } });
        assert.equal(r.status, 200);
        assert.equal(r.headers.server, 'fulcrum', `${enc}: ${r.headers['cache-status']}`);
        assert.equal(r.headers['x-powered-by'], undefined);
      }
      assert.equal(a.hits, 1, 'served from the cache after the first');
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('strips a configured list, sets Server: fulcrum, and serves error pages from files', async () => {
    const a = await leaky();
    const dead = await deadPort();
    const page502 = '<!doctype html><title>Unavailable</title><p>We are on it.</p>\n';
    const f = await startFulcrum(
      {
        workers: 1,
        upstreams: { app: { servers: [{ url: a.url }] }, gone: { servers: [{ url: `http://127.0.0.1:${dead}` }] } },
        routes: [
          { host: '*', pathPrefix: '/', upstream: 'app' },
          { host: '*', pathPrefix: '/gone/', upstream: 'gone' },
          { host: 'only.test', pathPrefix: '/', upstream: 'app' },
        ],
        responses: {
          stripHeaders: ['Server', 'X-Powered-By', 'X-Backend-Host'],
          serverHeader: 'fulcrum',
          errorPages: { '502': 'pages/502.html', '403': 'pages/403.html' },
        },
        access: { deny: ['192.0.2.0/24'] },
      },
      {
        beforeStart: (dir) => {
          mkdirSync(path.join(dir, 'pages'));
          writeFileSync(path.join(dir, 'pages', '502.html'), page502);
          writeFileSync(path.join(dir, 'pages', '403.html'), '<p>no</p>');
        },
      },
    );
    try {
      const r = await request(`${f.url}/`);
      assert.equal(r.headers.server, 'fulcrum');
      assert.equal(r.headers['x-powered-by'], undefined);
      assert.equal(r.headers['x-backend-host'], undefined);
      assert.equal(r.headers['x-kept'], 'yes');
      const e = await request(`${f.url}/gone/x`);
      assert.equal(e.status, 502);
      assert.equal(e.text, page502);
      assert.match(String(e.headers['content-type']), /^text\/html/);
      assert.equal(e.headers.server, 'fulcrum');
      assert.ok(e.headers['x-request-id']);
      assert.ok(!e.text.includes(String(dead)));
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
