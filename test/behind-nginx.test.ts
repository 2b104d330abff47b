/**
 * fulcrum behind Debian's nginx on nginx's defaults: `proxy_pass` speaks HTTP/1.0 to fulcrum
 * (proxy_http_version 1.0, Connection: close), the case the uWS front could not serve at all
 * (issue: "fulcrum behind a default nginx"). A GET, a POST with a body, a HEAD and a large
 * download go through nginx -> fulcrum -> a real origin, and the origin sees the client's request.
 *
 * Needs nginx (Debian's nginx-light, installed by scripts/ensure-test-deps.sh); skips with the
 * reason where it is missing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { echoed, request } from './helpers/client.js';
import { type Fulcrum, oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { createOrigin, echoHandler, freePort, type Origin } from './helpers/origin.js';

function findNginx(): string | null {
  for (const p of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      /* not there */
    }
  }
  return null;
}

const NGINX = findNginx();
const BIG = Buffer.alloc(4 * 1024 * 1024, 'fulcrum-behind-nginx ');

describe('behind nginx on its default proxy_http_version (HTTP/1.0 to fulcrum)', {
  skip: NGINX ? false : 'nginx is missing (Debian nginx-light; run scripts/ensure-test-deps.sh as root)',
}, () => {
  let origin: Origin;
  let f: Fulcrum;
  let nginx: ChildProcess;
  let url = '';
  let nginxLog = '';

  before(async () => {
    origin = await createOrigin('a', (req, res, o) => {
      if (req.url === '/big') {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(BIG);
        return;
      }
      echoHandler(req, res, o);
    });
    f = await startFulcrum(oneUpstream([origin.url]));
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-nginx-'));
    const conf = path.join(dir, 'nginx.conf');
    // nginx's defaults for proxy_pass, except where it would write outside `dir`
    writeFileSync(
      conf,
      `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass ${f.url}; }
  }
}
`,
    );
    nginx = spawn(NGINX!, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (d: Buffer) => (nginxLog += d.toString()));
    url = `http://127.0.0.1:${port}`;
    // nginx listens within a moment: bounded wait for its first answer
    const end = Date.now() + 10_000;
    for (;;) {
      const ok = await request(`${url}/ready`).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (Date.now() > end) throw new Error(`nginx did not answer within 10 s: ${nginxLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    nginx?.kill('SIGTERM');
    await f?.stop();
    await origin?.close();
  });

  it('serves a GET: the origin sees the path, Host and the client address nginx forwarded', async () => {
    const r = await request(`${url}/hello/world?q=1&empty=`);
    assert.equal(r.status, 200, nginxLog);
    const e = echoed(r);
    assert.equal(e.method, 'GET');
    assert.equal(e.url, '/hello/world?q=1&empty=');
    assert.equal(e.origin, 'a');
    // nginx is not a trusted proxy here: fulcrum names nginx's address
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('serves a POST with its body (Content-Length on HTTP/1.0)', async () => {
    const body = 'x'.repeat(100_000);
    const r = await request(`${url}/upload`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200, nginxLog);
    const e = echoed(r);
    assert.equal(e.method, 'POST');
    assert.equal(e.bodyLength, body.length);
  });

  it('serves HEAD with the length and no body, and a token method (PROPFIND)', async () => {
    const h = await request(`${url}/head`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    const p = await request(`${url}/dav`, { method: 'PROPFIND' });
    assert.equal(p.status, 200, nginxLog);
    assert.equal(echoed(p).method, 'PROPFIND');
  });

  it('streams a 4 MiB download intact (close-delimited or with its length on HTTP/1.0)', async () => {
    const r = await request(`${url}/big`);
    assert.equal(r.status, 200, nginxLog);
    assert.equal(r.body.length, BIG.length);
    assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(BIG).digest('hex'));
  });

  it('keeps serving: 50 requests in a row, each on its own HTTP/1.0 connection to fulcrum', async () => {
    const before = origin.hits;
    for (let i = 0; i < 50; i++) assert.equal((await request(`${url}/n${i}`)).status, 200);
    assert.equal(origin.hits - before, 50);
  });
});
