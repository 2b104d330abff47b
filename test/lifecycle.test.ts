/**
 * The process tree: graceful drain on SIGTERM, crash restarts, start-up failures, the uWS loader.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createOrigin, freePort } from './helpers/origin.js';
import { oneUpstream, runCli, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';
import { UWS_SKIP } from './helpers/uws.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lifecycle', () => {
  it('SIGTERM lets an in-flight request finish, refuses new connections, exits 0', async () => {
    const a = await createOrigin('slow', (req, res) => setTimeout(() => res.end('finished after the signal'), 800));
    const f = await startFulcrum(oneUpstream([a.url], { workers: 2 }));
    try {
      const inflight = request(`${f.url}/slow`);
      await sleep(200);
      f.proc.kill('SIGTERM');
      await sleep(200);
      // the listener is closed: a new connection is refused (or reset) rather than served
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(f.port, '127.0.0.1');
        s.on('connect', () => {
          s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
          s.on('data', () => resolve(false));
          s.on('close', () => resolve(true));
        });
        s.on('error', () => resolve(true));
      });
      assert.ok(refused, 'new connections are not served while draining');
      const r = await inflight;
      assert.equal(r.status, 200);
      assert.equal(r.text, 'finished after the signal');
      assert.equal(await f.exited, 0);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('SIGINT drains and exits 0 too', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url]));
    try {
      assert.equal((await request(`${f.url}/x`)).status, 200);
      assert.equal(await f.stop('SIGINT'), 0);
    } finally {
      await a.close();
    }
  });

  it('restarts a crashed worker and keeps serving', async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url], { workers: 2 }));
    try {
      const before = f.workerPids();
      assert.equal(before.length, 2);
      process.kill(before[0]!, 'SIGKILL');
      const deadline = Date.now() + 5000;
      let after: number[] = [];
      while (Date.now() < deadline) {
        after = f.workerPids();
        if (after.length === 2 && !after.includes(before[0]!)) break;
        await sleep(50);
      }
      assert.equal(after.length, 2, 'a replacement worker runs');
      assert.ok(!after.includes(before[0]!));
      assert.match(f.logs(), /worker exited unexpectedly; restarting/);
      for (let i = 0; i < 10; i++) assert.equal((await request(`${f.url}/after-crash`)).status, 200);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('fails at start with exit 1 and a clear message when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ ...oneUpstream(['http://127.0.0.1:9']), listen: { host: '127.0.0.1', port }, admin: { port: await freePort() } }));
    try {
      const r = await runCli(['start', '-c', file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
      // the admin port taken is just as clear
      const file2 = path.join(dir, 'c2.json');
      writeFileSync(file2, JSON.stringify({ ...oneUpstream(['http://127.0.0.1:9']), admin: { port } }));
      const r2 = await runCli(['start', '-c', file2]);
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, new RegExp(`cannot listen on admin 127\\.0\\.0\\.1:${port}`));
    } finally {
      blocker.close();
    }
  });

  it('refuses to start on an invalid config, listing every error', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ upstreams: { app: { servers: [{ url: 'ftp://x' }] } }, routes: [{ upstream: 'nope' }], listen: { port: 0 } }));
    const r = await runCli(['start', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\$\.upstreams\.app\.servers\[0\]\.url/);
    assert.match(r.stderr, /\$\.routes\[0\]\.upstream/);
    assert.match(r.stderr, /\$\.listen\.port/);
  });

  it('says which engine it runs (fulcrum by default, uWS when asked), and fails loudly when no uWS build loads', async () => {
    const a = await createOrigin('a');
    try {
      // the uWS engine where a native build loads (Node <= 20 here; UWS_SKIP says why not)
      for (const engine of UWS_SKIP ? (['fulcrum'] as const) : (['fulcrum', 'uws'] as const)) {
        const cfg = oneUpstream([a.url]);
        const f = await startFulcrum({ ...cfg, listen: { ...(cfg.listen as object), engine } });
        try {
          const started = f.logLines().find((l) => l.msg === 'fulcrum started')!;
          assert.equal(started.engine, engine);
          assert.match(String(started.build), engine === 'uws' ? /uws|uwebsockets/i : /^fulcrum http\/1\.1 \(node v\d+/);
          assert.equal((await request(f.url + '/')).status, 200);
        } finally {
          await f.stop();
        }
      }
    } finally {
      await a.close();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
    const file = path.join(dir, 'c.json');
    // the btc-vision build needs glibc >= 2.38; forcing it must fail, never fall back to JS
    writeFileSync(
      file,
      JSON.stringify({ ...oneUpstream(['http://127.0.0.1:9']), listen: { host: '127.0.0.1', port: 1, engine: 'uws' }, admin: { port: await freePort() } }),
    );
    const r = await runCli(['start', '-c', file], { FULCRUM_UWS: '@btc-vision/uwebsockets.js' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no native uWebSockets\.js build loads/);
    assert.match(r.stderr, /never falls back/);
  });
});
