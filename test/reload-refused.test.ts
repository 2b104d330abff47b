/**
 * A reload takes effect whole or not at all (issue 16, nginx's promise). Under load, a reload that
 * cannot be applied: the new listen port held by another process, a certificate that cannot be
 * loaded (or a TLS port held), a server whose host name does not resolve, a worker that crashes
 * while it builds the new runtime. Each is refused with its reason (POST /reload 422 or 500, the
 * log, GET /status), no request fails, the running config keeps serving, and the primary stays up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createOrigin, freePort, type Origin } from './helpers/origin.js';
import { startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { adminCall, echoed, request } from './helpers/client.js';
import { hammer, type Hammer, type HammerOptions } from './helpers/hammer.js';
import { status, until } from './helpers/wait.js';
import { hasOpenssl, makeCert } from './helpers/certs.js';

/** holdPort listens on a free loopback port without SO_REUSEPORT, as another program would. */
async function holdPort(): Promise<net.Server> {
  const s = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

/** withLoad runs fn while keep-alive clients hammer each url, then checks none failed and only `label` answered. */
async function withLoad(urls: string[], label: string, fn: () => Promise<void>, opts: HammerOptions = {}): Promise<void> {
  const loads: Hammer[] = urls.map((u) => hammer(u, 2, opts));
  const total = () => loads.reduce((n, h) => n + h.ok(), 0);
  try {
    await until(() => total() > 100, 'load before the reload', 10_000);
    await fn();
    // the traffic after the refusal is served too
    const after = total();
    await until(() => total() > after + 100, 'load after the reload', 10_000);
  } finally {
    await Promise.all(loads.map((h) => h.stop()));
  }
  for (const h of loads) {
    assert.deepEqual(h.failures, [], `${h.failures.length} failed of ${h.ok() + h.failures.length}`);
    assert.deepEqual(
      [...h.seen.keys()].map((k) => k.split(':')[1]).filter((who) => who !== label),
      [],
      `answered by: ${JSON.stringify([...h.seen])}`,
    );
  }
}

function writeConfig(f: Fulcrum, change: (cfg: Record<string, unknown>) => Record<string, unknown>): void {
  writeFileSync(f.configFile, JSON.stringify(change(JSON.parse(readFileSync(f.configFile, 'utf8')))));
}

function oneApp(url: string) {
  return { upstreams: { app: { servers: [{ url }] } }, routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }] };
}

async function assertLastReload(f: Fulcrum, source: string, reason: RegExp): Promise<void> {
  const st = await status(f);
  assert.equal(st.generation, 1);
  assert.equal(st.lastReload?.ok, false, JSON.stringify(st.lastReload));
  assert.equal(st.lastReload.source, source);
  assert.equal(st.lastReload.generation, 1);
  assert.match(st.lastReload.reason, reason);
  assert.ok(Date.now() - Date.parse(st.lastReload.time) < 60_000);
}

/** a good reload still works afterwards: the primary is not left in a half state */
async function reloadsAfterwards(f: Fulcrum, b: Origin): Promise<void> {
  const good = await adminCall(f.adminUrl, 'POST', '/reload');
  assert.equal(good.status, 200, good.text);
  assert.equal(JSON.parse(good.text).generation, 2);
  await until(async () => echoed(await request(`${f.url}/`)).origin === 'b', 'the reloaded config serving', 5000);
  const st = await status(f);
  assert.equal(st.lastReload.ok, true);
  assert.equal(b.hits > 0, true);
}

/** certName connects to the TLS port and returns the CN of the certificate it presents. */
function certName(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().subject?.CN as string | undefined);
      s.destroy();
    });
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

describe('a reload takes effect whole or not at all', () => {
  it('the new listen port is held by another process: refused (500), the old workers untouched', { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const held = await holdPort();
    const f = await startFulcrum({ workers: 2, ...oneApp(a.url) });
    try {
      const pids = f.workerPids().sort();
      assert.equal(pids.length, 2);
      await withLoad([f.url], 'a', async () => {
        writeConfig(f, (cfg) => ({ ...cfg, listen: { ...(cfg.listen as object), port: portOf(held) }, ...oneApp(b.url) }));
        const r = await adminCall(f.adminUrl, 'POST', '/reload');
        assert.equal(r.status, 500, r.text);
        const body = JSON.parse(r.text);
        assert.equal(body.ok, false);
        assert.equal(body.generation, 1);
        assert.match(body.reason, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${portOf(held)}`));
        assert.equal(f.proc.exitCode, null, 'the primary is up');
        await until(() => f.workerPids().sort().join() === pids.join(), 'the new generation gone, the old one left as it was');
      });
      assert.equal(f.proc.exitCode, null);
      assert.deepEqual(f.workerPids().sort(), pids);
      await assertLastReload(f, 'admin', /cannot listen/);
      assert.ok(f.logLines().some((l) => l.msg === 'reload failed: the workers could not apply the new config; the running one stays'));
      assert.ok(!f.logLines().some((l) => l.msg === 'worker cannot run; stopping'));
      writeConfig(f, (cfg) => ({ ...cfg, listen: { ...(cfg.listen as object), port: f.port } }));
      await reloadsAfterwards(f, b);
    } finally {
      await f.stop();
      held.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a certificate that cannot be loaded, or a TLS port held: refused (422, 500), the old certificate served', {
    skip: hasOpenssl() ? false : 'openssl is not installed',
    timeout: 60_000,
  }, async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-reload-tls-'));
    makeCert(dir, 'old.test', { name: 'old' });
    makeCert(dir, 'new.test', { name: 'new' });
    writeFileSync(path.join(dir, 'garbage.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    mkdirSync(path.join(dir, 'a-directory.crt'));
    const tlsPort = await freePort();
    const held = await holdPort();
    const f = await startFulcrum({
      workers: 2,
      ...oneApp(a.url),
      tls: { port: tlsPort, cert: path.join(dir, 'old.crt'), key: path.join(dir, 'old.key'), redirectHttp: false },
    });
    const withTls = (t: Record<string, unknown>) => (cfg: Record<string, unknown>) => ({ ...cfg, ...oneApp(b.url), tls: { ...(cfg.tls as object), ...t } });
    try {
      assert.equal(await certName(tlsPort), 'old.test');
      await withLoad([f.url, `https://127.0.0.1:${tlsPort}`], 'a', async () => {
        for (const cert of ['garbage.crt', 'a-directory.crt']) {
          writeConfig(f, withTls({ cert: path.join(dir, cert), key: path.join(dir, 'new.key') }));
          const r = await adminCall(f.adminUrl, 'POST', '/reload');
          assert.equal(r.status, 422, `${cert}: ${r.text}`);
          assert.ok(
            (JSON.parse(r.text).errors as { path: string }[]).some((e) => e.path.startsWith('$.tls')),
            r.text,
          );
          assert.equal(await certName(tlsPort), 'old.test');
        }
        await assertLastReload(f, 'admin', /\$\.tls/);
        // a good certificate on a TLS port another process holds: the workers refuse it
        writeConfig(f, withTls({ port: portOf(held), cert: path.join(dir, 'new.crt'), key: path.join(dir, 'new.key') }));
        const r = await adminCall(f.adminUrl, 'POST', '/reload');
        assert.equal(r.status, 500, r.text);
        assert.match(JSON.parse(r.text).reason, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${portOf(held)} for TLS`));
        assert.equal(await certName(tlsPort), 'old.test');
      });
      await assertLastReload(f, 'admin', /for TLS/);
      writeConfig(f, withTls({ port: tlsPort, cert: path.join(dir, 'new.crt'), key: path.join(dir, 'new.key') }));
      await reloadsAfterwards(f, b);
      await until(async () => (await certName(tlsPort)) === 'new.test', 'the new certificate served');
    } finally {
      await f.stop();
      held.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a server whose host name does not resolve: refused (422), as nginx refuses "host not found in upstream"', { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    const f = await startFulcrum({ workers: 2, ...oneApp(a.url) });
    try {
      await withLoad([f.url], 'a', async () => {
        // valid config (`fulcrum check` passes it), a name that cannot resolve (RFC 6761 .invalid)
        writeConfig(f, (cfg) => ({ ...cfg, upstreams: { app: { servers: [{ url: b.url }, { url: 'http://fulcrum-reload-test.invalid:8080' }] } } }));
        // SIGHUP runs the same reload and logs the outcome
        f.proc.kill('SIGHUP');
        await until(async () => (await status(f)).lastReload !== null, 'the SIGHUP reload to finish');
        await assertLastReload(f, 'SIGHUP', /fulcrum-reload-test\.invalid: host not found/);
        const line = f.logLines().find((l) => l.msg === 'reload refused: the config has errors; the running config stays');
        assert.match(String(line?.errors), /\$\.upstreams\.app\.servers\[1\]\.url/);
        const r = await adminCall(f.adminUrl, 'POST', '/reload');
        assert.equal(r.status, 422, r.text);
        assert.deepEqual(
          (JSON.parse(r.text).errors as { path: string }[]).map((e) => e.path),
          ['$.upstreams.app.servers[1].url'],
        );
      });
      writeConfig(f, (cfg) => ({ ...cfg, ...oneApp(b.url) }));
      await reloadsAfterwards(f, b);
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a worker that crashes while it builds the new runtime: refused (500), it restarts on the running config', { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all([createOrigin('a'), createOrigin('b')]);
    // the test-only fault hook: worker 1 exits while it prepares a reload
    const f = await startFulcrum({ workers: 2, ...oneApp(a.url) }, { env: { FULCRUM_TEST_CRASH_IN_PREPARE: '1' } });
    try {
      const before = f.workerPids();
      await withLoad(
        [f.url],
        'a',
        async () => {
          writeConfig(f, (cfg) => ({ ...cfg, ...oneApp(b.url) }));
          const r = await adminCall(f.adminUrl, 'POST', '/reload');
          assert.equal(r.status, 500, r.text);
          assert.match(JSON.parse(r.text).reason, /worker 1 exited while it prepared the new config/);
          // restarted, on the running config (the load checks that only "a" answers)
          await until(() => f.workerPids().length === 2 && f.workerPids().some((p) => !before.includes(p)), 'worker 1 restarted');
          // the requests that were on worker 1 when it died are reset with it, as in any proxy:
          // the clients resend those GETs (retryResets), and every one is answered by the old config
        },
        { retryResets: true },
      );
      await assertLastReload(f, 'admin', /worker 1 exited/);
      assert.ok(f.logLines().some((l) => l.msg === 'worker exited unexpectedly; restarting' && l.generation === 1));
      assert.equal(f.proc.exitCode, null);
      for (let i = 0; i < 10; i++) assert.equal(echoed(await request(`${f.url}/`)).origin, 'a');
    } finally {
      await f.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
