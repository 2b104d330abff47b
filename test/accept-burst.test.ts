/**
 * A burst of connections on one worker (issue 19, the 1,000-connection workload). libuv accepts
 * one connection per ready descriptor per event-loop iteration, so a busy worker listens on more
 * descriptors of its listening socket while connections queue up (src/worker/engine/accept-copies.ts).
 * What a user notices: every connection of a burst is answered, on plain and TLS listeners, and a
 * listener that moves to another port on a reload leaves nothing listening on the old one (the
 * copies are closed with it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { hasOpenssl, makeCert } from './helpers/certs.js';
import net from 'node:net';
import { createOrigin, freePort } from './helpers/origin.js';
import { startFulcrum, oneUpstream } from './helpers/fulcrum.js';
import { adminCall } from './helpers/client.js';
import { statusOf } from './helpers/raw.js';
import { until } from './helpers/wait.js';

const GET = 'GET /who HTTP/1.1\r\nHost: burst\r\nConnection: close\r\n\r\n';

/** burst opens n connections at once (plain, or TLS with HTTP/1.1 by ALPN), each sends one GET (Connection: close); resolves with the statuses and who answered. */
function burst(port: number, n: number, secure = false, timeoutMs = 20_000): Promise<{ statuses: number[]; answered: string[] }> {
  const one = () =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const send = () => s.write(GET);
      const s = secure
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, send)
        : net.connect(port, '127.0.0.1', send);
      const timer = setTimeout(() => s.destroy(), timeoutMs);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
    });
  return Promise.all(Array.from({ length: n }, one)).then((rs) => ({
    statuses: rs.map(statusOf),
    answered: rs.map((r) => r.toString('latin1').split('\r\n\r\n')[1] ?? ''),
  }));
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('a burst of connections on one worker', () => {
  it('every connection of three bursts of 400 is answered; a listener moved by a reload leaves the old port refusing', { timeout: 90_000 }, async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum({ workers: 1, logging: { level: 'debug' }, limits: { maxConnectionsPerClient: 0 }, ...oneUpstream([a.url]) });
    try {
      for (let round = 0; round < 3; round++) {
        const r = await burst(f.port, 400);
        assert.deepEqual(
          r.statuses.filter((s) => s !== 200),
          [],
          `round ${round}: every connection answered 200`,
        );
        assert.ok(
          r.answered.every((b) => b.includes('"origin":"a"')),
          'the origin answered each',
        );
      }
      // the burst backed the listening socket up at least once: the copies listened (a debug line)
      assert.ok(
        f.logLines().some((l) => l.msg === 'listening socket backed up: accepting on more descriptors'),
        'the worker accepted on more descriptors',
      );
      // the listener moves: the old port, with every descriptor of its socket, is closed
      const old = f.port;
      const moved = await freePort();
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, listen: { ...cfg.listen, port: moved } }));
      const r = await adminCall(f.adminUrl, 'POST', '/reload');
      assert.equal(r.status, 200, r.text);
      const after = await burst(moved, 50);
      assert.deepEqual(
        after.statuses.filter((s) => s !== 200),
        [],
        'the new port serves',
      );
      await until(() => refused(old), 'the old port refuses connections', 10_000);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('every connection of a burst of 200 on the TLS listener is answered', {
    timeout: 90_000,
    skip: hasOpenssl() ? false : 'openssl is not installed (scripts/ensure-test-deps.sh installs it)',
  }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-burst-'));
    makeCert(dir, 'burst.test', { name: 'burst' });
    const a = await createOrigin('a');
    const tlsPort = await freePort();
    const f = await startFulcrum({
      workers: 1,
      limits: { maxConnectionsPerClient: 0 },
      tls: { port: tlsPort, cert: path.join(dir, 'burst.crt'), key: path.join(dir, 'burst.key'), redirectHttp: false },
      ...oneUpstream([a.url]),
    });
    try {
      for (let round = 0; round < 2; round++) {
        const { statuses } = await burst(tlsPort, 200, true, 30_000);
        assert.deepEqual(
          statuses.filter((s) => s !== 200),
          [],
          `round ${round}: every TLS connection answered 200`,
        );
      }
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
