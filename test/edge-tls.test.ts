/**
 * TLS termination with real TLS clients and throwaway certificates made at test time (openssl).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createOrigin, freePort, type Origin } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';

interface Hello {
  cn: string | undefined;
  protocol: string | null;
  status: number;
  headers: string;
  body: string;
}

/** tlsGet does one HTTP/1.1 GET over a fresh TLS connection and reports the certificate seen. */
function tlsGet(port: number, servername: string | undefined, opts: tls.ConnectionOptions = {}): Promise<Hello> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false, ...opts }, () => {
      const cn = s.getPeerCertificate().subject?.CN as string | undefined;
      const protocol = s.getProtocol();
      s.write(`GET /hello HTTP/1.1\r\nHost: ${servername ?? 'default.test'}\r\n\r\n`);
      let got = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        got += d;
        const at = got.indexOf('\r\n\r\n');
        const m = /content-length: (\d+)/i.exec(got);
        if (at >= 0 && m && got.length >= at + 4 + Number(m[1])) {
          s.destroy();
          resolve({ cn, protocol, status: Number(got.slice(9, 12)), headers: got.slice(0, at), body: got.slice(at + 4) });
        }
      });
    });
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

describe('TLS termination', { skip: hasOpenssl() ? false : 'openssl is not installed' }, () => {
  let a: Origin;
  let f: Fulcrum;
  let tlsPort: number;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-certs-'));
    makeCert(dir, 'default.test', { name: 'default', passphrase: 'pem-secret' });
    makeCert(dir, 'a.test', { name: 'a' });
    makeCert(dir, 'b.test', { name: 'b' });
    makeCert(dir, 'a.test', { name: 'a2' });
    a = await createOrigin('a');
    tlsPort = await freePort();
    f = await startFulcrum(
      oneUpstream([a.url], {
        tls: {
          port: tlsPort,
          cert: path.join(dir, 'default.crt'),
          key: path.join(dir, 'default.key'),
          passphrase: 'pem-secret',
          sni: [
            { hostname: 'a.test', cert: path.join(dir, 'a.crt'), key: path.join(dir, 'a.key') },
            { hostname: 'b.test', cert: path.join(dir, 'b.crt'), key: path.join(dir, 'b.key') },
          ],
          redirectHttp: true,
          hsts: 'max-age=31536000',
        },
        logging: { access: path.join(dir, 'access.log') },
      }),
    );
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  it('terminates TLS with the default certificate (encrypted key) and forwards X-Forwarded-Proto: https', async () => {
    const r = await tlsGet(tlsPort, undefined);
    assert.equal(r.cn, 'default.test');
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body);
    assert.equal(e.headers['x-forwarded-proto'], 'https');
    assert.match(r.headers, /strict-transport-security: max-age=31536000/i);
  });

  it('chooses the certificate by SNI; an unknown name gets the default one', async () => {
    assert.equal((await tlsGet(tlsPort, 'a.test')).cn, 'a.test');
    const b = await tlsGet(tlsPort, 'b.test');
    assert.equal(b.cn, 'b.test');
    assert.equal(b.status, 200);
    assert.equal((await tlsGet(tlsPort, 'unknown.test')).cn, 'default.test');
  });

  it('verifies with a real HTTPS client that trusts the certificate', async () => {
    const ca = (await import('node:fs')).readFileSync(path.join(dir, 'a.crt'));
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(
          { host: '127.0.0.1', port: tlsPort, path: '/v', servername: 'a.test', headers: { host: 'a.test' }, ca, checkServerIdentity: () => undefined },
          (res) => {
            let t = '';
            res.on('data', (d) => (t += d));
            res.on('end', () => resolve(t));
          },
        )
        .on('error', reject);
    });
    assert.equal(JSON.parse(body).url, '/v');
  });

  it('refuses TLS 1.1', async () => {
    await assert.rejects(tlsGet(tlsPort, 'a.test', { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  });

  it('redirects plain HTTP to HTTPS with 301', async () => {
    const r = await request(`${f.url}/path/x?q=1`, { headers: { host: 'a.test:8080' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, `https://a.test:${tlsPort}/path/x?q=1`);
    // fulcrum's own answer: its request id, and a line in the access log (no reason: not a failure)
    const id = String(r.headers['x-request-id']);
    const deadline = Date.now() + 5000;
    let line: Record<string, unknown> | undefined;
    while (line === undefined && Date.now() < deadline) {
      const text = existsSync(path.join(dir, 'access.log')) ? readFileSync(path.join(dir, 'access.log'), 'utf8') : '';
      line = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((e) => e.requestId === id);
      if (line === undefined) await new Promise((res) => setTimeout(res, 50));
    }
    assert.deepEqual([line?.status, line?.reason, line?.route, line?.path], [301, null, null, '/path/x?q=1']);
  });

  it('reloads certificates on SIGHUP without dropping an open TLS connection', async () => {
    // a keep-alive TLS connection opened before the reload
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const get = () =>
      new Promise<{ status: number; port: number }>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: tlsPort, path: '/ka', servername: 'a.test', headers: { host: 'a.test' }, agent }, (res) => {
            const port = res.socket.localPort!;
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode!, port }));
          })
          .on('error', reject);
      });
    const first = await get();
    const serialBefore = await new Promise<string>((resolve) => {
      const s = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.destroy();
      });
    });
    copyFileSync(path.join(dir, 'a2.crt'), path.join(dir, 'a.crt'));
    copyFileSync(path.join(dir, 'a2.key'), path.join(dir, 'a.key'));
    f.proc.kill('SIGHUP');
    const t0 = Date.now();
    let serialAfter = serialBefore;
    const resets: string[] = [];
    while (serialAfter === serialBefore && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 100));
      serialAfter = await new Promise<string>((resolve) => {
        const s = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.destroy();
        });
        s.on('error', (err) => {
          resets.push(String(err));
          resolve(serialBefore);
        });
      });
    }
    assert.notEqual(serialAfter, serialBefore, 'new handshakes get the new certificate');
    assert.deepEqual(resets, [], 'no handshake was reset while the listener was replaced');
    const second = await get();
    assert.equal(second.status, 200);
    assert.equal(second.port, first.port, 'the old connection was kept and reused');
    agent.destroy();
  });

  it('a reload the workers cannot run (its HTTPS port is taken) changes nothing: the running config keeps serving', async () => {
    // the primary finds the config valid; only the workers can find the port taken
    const taken = net.createServer();
    const takenPort = await freePort();
    await new Promise<void>((r) => taken.listen(takenPort, '127.0.0.1', r));
    const original = readFileSync(f.configFile, 'utf8');
    try {
      const cfg = JSON.parse(original) as { tls: { port: number; hsts: string } };
      cfg.tls.port = takenPort;
      cfg.tls.hsts = 'max-age=60';
      writeFileSync(f.configFile, JSON.stringify(cfg));
      f.proc.kill('SIGHUP');
      const t0 = Date.now();
      while (!/reload failed: the workers could not apply the new config/.test(f.logs()) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      assert.match(f.logs(), /reload refused by worker; the running config stays.*cannot listen on 127\.0\.0\.1:\d+ for TLS/);
      assert.match(f.logs(), /reload failed: the workers could not apply the new config/);
      // the old listener, certificate and settings are untouched, and the worker is alive
      const r = await tlsGet(tlsPort, 'a.test');
      assert.equal(r.status, 200);
      assert.equal(r.cn, 'a.test');
      assert.match(r.headers, /strict-transport-security: max-age=31536000/i);
      assert.equal((await request(`${f.url}/`)).status, 301);
      assert.equal(f.proc.exitCode, null);
    } finally {
      writeFileSync(f.configFile, original);
      await new Promise((r) => taken.close(r));
    }
  });

  it('refuses a reload with a broken certificate and keeps serving with the running one', async () => {
    writeFileSync(path.join(dir, 'b.crt'), 'not a certificate\n');
    f.proc.kill('SIGHUP');
    const t0 = Date.now();
    while (!/reload refused.*tls\.sni/.test(f.logs()) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.match(f.logs(), /reload refused.*tls\.sni\[1\]/);
    const b = await tlsGet(tlsPort, 'b.test');
    assert.equal(b.cn, 'b.test');
    assert.equal(b.status, 200);
  });
});
