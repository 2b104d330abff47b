/**
 * HTTP/2 end to end through the real `fulcrum start` with TLS: curl --http2 and node:http2
 * clients, a page of 50 resources over one connection (counted at a TCP counter in front of the
 * TLS listener and at the backend), Chromium headless loading it, and the defences against the
 * known HTTP/2 attacks, each by a raw client doing the attack while a well-behaved client is
 * served: rapid reset (CVE-2023-44487), CONTINUATION flood (CVE-2024-27316 class), PING flood,
 * SETTINGS flood. The attacker must be closed (GOAWAY ENHANCE_YOUR_CALM, or nghttp2's own
 * GOAWAY), the worker must stay up (same pid) and keep serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { tcpCounter } from './helpers/tcp-counter.js';
import { createOrigin, type Origin } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { freePort } from './helpers/origin.js';
import { adminCall } from './helpers/client.js';
import { END_HEADERS, END_STREAM, Frame, frame, h2connect, h2request, hpack, RawH2 } from './helpers/h2.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';

const CHROMIUM = '/usr/bin/chromium';
const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
const PAGE = `<!doctype html><title>h2</title><link rel="icon" href="data:,">${Array.from({ length: 50 }, (_, i) => `<img src="/r/${i}.svg">`).join('')}`;
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>';

function hasCurlHttp2(): boolean {
  return existsSync('/usr/bin/curl');
}

/** the suite runs on both HTTP/2 implementations (http2.implementation) */
for (const implementation of ['node', 'fulcrum'] as const) {
  describe(`HTTP/2 through fulcrum start (TLS, http2.implementation ${implementation})`, {
    skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)',
  }, () => {
    let origin: Origin;
    let f: Fulcrum;
    let tlsPort: number;
    let url: string;
    before(async () => {
      origin = await createOrigin('o', (req, res, o) => {
        if (req.url === '/page') {
          res.setHeader('content-type', 'text/html');
          res.end(PAGE);
        } else if (req.url?.startsWith('/r/')) {
          res.setHeader('content-type', 'image/svg+xml');
          res.setHeader('cache-control', 'no-store');
          res.end(SVG);
        } else {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ url: req.url, origin: o.label, headers: req.headers, httpVersion: req.httpVersion }));
        }
      });
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-h2-'));
      const { cert, key } = makeCert(dir, 'localhost');
      tlsPort = await freePort();
      f = await startFulcrum(oneUpstream([origin.url], { tls: { port: tlsPort, cert, key }, logging: { access: 'off' }, http2: { implementation } }));
      url = `https://127.0.0.1:${tlsPort}`;
    });
    after(async () => {
      await f?.stop();
      await origin?.close();
    });

    it('node:http2: a GET is proxied to the HTTP/1.1 backend with :authority as Host, cookies joined', async () => {
      const s = await h2connect(url);
      const r = await h2request(s, { ':path': '/a?x=1', cookie: ['a=1', 'b=2'] });
      assert.equal(r.status, 200);
      const e = JSON.parse(r.body.toString());
      assert.equal(e.url, '/a?x=1');
      assert.equal(e.httpVersion, '1.1');
      assert.equal(e.headers.host, `127.0.0.1:${tlsPort}`);
      assert.equal(e.headers.cookie, 'a=1; b=2');
      assert.equal(e.headers['x-forwarded-proto'], 'https');
      s.close();
    });

    it('50 resources over one connection: one TLS connection at the listener, backend connections reused', async () => {
      const counter = await tcpCounter(tlsPort);
      const before = origin.sockets;
      const s = await h2connect(`https://127.0.0.1:${counter.port}`);
      const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => h2request(s, { ':path': `/r/${i}.svg` })));
      assert.ok(rs.every((r) => r.status === 200 && r.body.toString() === SVG));
      assert.equal(counter.count(), 1, 'one client connection');
      assert.ok(origin.sockets - before <= 50, 'at most one backend connection per concurrent request');
      s.close();
      counter.close();
    });

    it('curl --http2: a page and 50 resources over one connection', { skip: hasCurlHttp2() ? false : 'curl is not installed' }, async () => {
      const counter = await tcpCounter(tlsPort);
      const urls = [`https://localhost:${counter.port}/page`, ...Array.from({ length: 50 }, (_, i) => `https://localhost:${counter.port}/r/${i}.svg`)];
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          'curl',
          [
            '-sk',
            '--http2',
            '--resolve',
            `localhost:${counter.port}:127.0.0.1`,
            '-w',
            '%{http_version} %{response_code}\\n',
            ...urls.flatMap((u) => ['-o', '/dev/null', u]),
          ],
          { timeout: 20000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 51);
      assert.ok(
        lines.every((l) => l === '2 200'),
        out,
      );
      assert.equal(counter.count(), 1, 'curl reused one connection');
      counter.close();
    });

    it('Chromium loads the page and its 50 images over one HTTP/2 connection', {
      skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh as root)`,
      timeout: 60_000,
    }, async () => {
      const { chromium } = await import('playwright-core');
      const counter = await tcpCounter(tlsPort);
      const profile = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-chromium-'));
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        ignoreHTTPSErrors: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--ignore-certificate-errors',
        ],
      });
      try {
        const page = await browser.newPage();
        const res = await page.goto(`https://localhost:${counter.port}/page`, { waitUntil: 'load' });
        assert.equal(res?.status(), 200);
        const loaded = await page.evaluate(() => [...document.images].filter((i) => i.complete && i.naturalWidth > 0).length);
        assert.equal(loaded, 50);
        const protos = await page.evaluate(() =>
          [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map(
            (e) => (e as PerformanceResourceTiming).nextHopProtocol,
          ),
        );
        assert.equal(protos.length, 51, 'the page and its 50 images');
        assert.ok(
          protos.every((p) => p === 'h2'),
          protos.join(' '),
        );
        // Chromium may race a spare connection at the first navigation; one carried every request
        assert.equal(counter.busy(), 1, 'one TLS connection carried the page and its images');
      } finally {
        await browser.close();
        counter.close();
      }
    });

    /** attack runs `attack` on a raw TLS connection while a node:http2 client keeps being served; returns the attacker. */
    async function underAttack(attack: (c: RawH2) => void): Promise<RawH2> {
      const pids = f.workerPids();
      const good = await h2connect(url);
      const c = await RawH2.open(tlsPort, true);
      attack(c);
      const served = await Promise.all(Array.from({ length: 10 }, (_, i) => h2request(good, { ':path': `/good/${i}` })));
      assert.ok(served.every((r) => r.status === 200));
      await c.until(() => c.closed, 10000, 'the attacker to be disconnected');
      assert.equal((await h2request(good, { ':path': '/after' })).status, 200, 'the well-behaved client is still served');
      assert.deepEqual(f.workerPids(), pids, 'the worker stayed up');
      assert.equal(f.proc.exitCode, null);
      good.close();
      return c;
    }

    const get = (id: number): Buffer =>
      frame(
        Frame.Headers,
        END_HEADERS | END_STREAM,
        id,
        hpack([
          [':method', 'GET'],
          [':scheme', 'https'],
          [':authority', 'localhost'],
          [':path', `/slow/${id}`],
        ]),
      );

    it('rapid reset (CVE-2023-44487): streams opened and cancelled at once get GOAWAY ENHANCE_YOUR_CALM', async () => {
      const c = await underAttack((c) => {
        const rst = Buffer.alloc(4);
        rst.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
        const parts: Buffer[] = [];
        for (let i = 0, id = 1; i < 2000; i++, id += 2) parts.push(get(id), frame(Frame.RstStream, 0, id, rst));
        c.send(Buffer.concat(parts));
      });
      assert.equal(c.goaway()?.code, NGHTTP2_ENHANCE_YOUR_CALM);
      // workers report their metrics in batches: poll, bounded
      const counted = /fulcrum_http2_connections_closed_total\{reason="rapid-reset"\} [1-9]/;
      let m = '';
      for (let i = 0; i < 50 && !counted.test(m); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        m = await (await fetch(`${f.adminUrl}/metrics`)).text();
      }
      assert.match(m, counted);
    });

    it('CONTINUATION flood: a header block that never ends is cut off', async () => {
      const c = await underAttack((c) => {
        c.send(
          frame(
            Frame.Headers,
            0,
            1,
            hpack([
              [':method', 'GET'],
              [':scheme', 'https'],
              [':authority', 'localhost'],
              [':path', '/'],
            ]),
          ),
        );
        const cont = frame(Frame.Continuation, 0, 1, hpack([['x-flood', 'y'.repeat(1000)]]));
        for (let i = 0; i < 2000 && c.send(cont); i++);
      });
      assert.ok(c.goaway() !== null || c.closed);
    });

    it('PING flood: GOAWAY ENHANCE_YOUR_CALM', async () => {
      const c = await underAttack((c) => {
        const ping = frame(Frame.Ping, 0, 0, Buffer.alloc(8));
        c.send(Buffer.concat(Array.from({ length: 500 }, () => ping))); // under nghttp2's own 1000 queued answers, so that the bucket is what acts
      });
      assert.equal(c.goaway()?.code, NGHTTP2_ENHANCE_YOUR_CALM);
    });

    it('SETTINGS flood: GOAWAY ENHANCE_YOUR_CALM', async () => {
      const c = await underAttack((c) => {
        const settings = frame(Frame.Settings, 0, 0, Buffer.from([0, 4, 0, 1, 0, 0])); // INITIAL_WINDOW_SIZE 65536
        c.send(Buffer.concat(Array.from({ length: 500 }, () => settings)));
      });
      assert.equal(c.goaway()?.code, NGHTTP2_ENHANCE_YOUR_CALM);
    });
  });
}

describe('h2c turned on by a reload', () => {
  it('a worker started without HTTP/2 (node:http2 not loaded) serves h2c after a reload turns listen.h2c on', { timeout: 60_000 }, async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({ workers: 1, ...oneUpstream([a.url]) });
    try {
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, listen: { ...cfg.listen, h2c: true } }));
      const r = await adminCall(f.adminUrl, 'POST', '/reload');
      assert.equal(r.status, 200, r.text);
      const s = await h2connect(f.url);
      try {
        const res = await h2request(s, { ':path': '/h2c' });
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(res.body.toString()).origin, 'a');
      } finally {
        s.close();
      }
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
