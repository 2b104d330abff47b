/**
 * The edge sections of the config through `fulcrum check`: field-level errors by JSON path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/fulcrum.js';

function tmpConfig(obj: unknown, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(obj));
  return file;
}

const good = {
  upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }] } },
  routes: [{ upstream: 'app' }],
};

describe('fulcrum check: edge sections', () => {
  it('accepts access, limits, rateLimit, timeouts, responses and tls together', async () => {
    const r = await runCli([
      'check',
      '-c',
      tmpConfig(
        {
          ...good,
          access: { allow: ['10.0.0.0/8', '2001:db8::/32', '::ffff:192.0.2.1'], denyFile: 'deny.txt', denyAction: 'close' },
          limits: { maxConnectionsPerClient: 64, maxUrlBytes: 4096, maxHeaders: 40, maxHeaderBytes: 8192, maxBodyBytes: 1048576 },
          rateLimit: { ratePerSecond: 10, burst: 20, key: { header: 'x-api-key' } },
          timeouts: { headerMs: 10000, keepAliveMs: 10000, bodyIdleMs: 5000, requestMs: 60000 },
          responses: { serverHeader: 'fulcrum', stripHeaders: ['x-backend'] },
          routes: [{ upstream: 'app', rateLimit: false, access: { deny: ['192.0.2.0/24'] } }],
        },
        { 'deny.txt': '# comment\n203.0.113.0/24\n\n198.51.100.7\n' },
      ),
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  const cases: [string, unknown, Record<string, string>, RegExp][] = [
    [
      'a bad CIDR in access.deny',
      { ...good, access: { deny: ['10.0.0.0/33'] } },
      {},
      /\$\.access\.deny\[0\]: got "10\.0\.0\.0\/33"; expected an IPv4 or IPv6 address or CIDR range/,
    ],
    [
      "a bad CIDR in a route's list",
      { ...good, routes: [{ upstream: 'app', access: { allow: ['nope'] } }] },
      {},
      /\$\.routes\[0\]\.access\.allow\[0\]: got "nope"/,
    ],
    [
      'a bad line in a list file',
      { ...good, access: { allowFile: 'allow.txt' } },
      { 'allow.txt': '10.0.0.0/8\n10.0.0.300\n' },
      /\$\.access\.allowFile: got "10\.0\.0\.300" \(.*allow\.txt:2\); expected one IPv4 or IPv6 address or CIDR range per line/,
    ],
    ['a missing list file', { ...good, access: { denyFile: 'nope.txt' } }, {}, /\$\.access\.denyFile: got "nope\.txt"; expected a readable file \(ENOENT\)/],
    [
      'a header timeout uWS cannot honour',
      { ...good, listen: { engine: 'uws' }, timeouts: { headerMs: 3000 } },
      {},
      /\$\.timeouts\.headerMs: got 3000; expected 10000 with listen\.engine "uws"/,
    ],
    ['an unknown engine', { ...good, listen: { engine: 'nginx' } }, {}, /\$\.listen\.engine: got "nginx"/],
    ['a zero burst', { ...good, rateLimit: { ratePerSecond: 1, burst: 0 } }, {}, /\$\.rateLimit\.burst: got 0/],
    [
      'a TLS port equal to listen.port',
      { ...good, tls: { port: 8080, cert: 'c.pem', key: 'k.pem' } },
      { 'c.pem': 'x', 'k.pem': 'x' },
      /\$\.tls\.port: got 8080; expected a port other than listen\.port/,
    ],
    [
      'a file that is not a PEM certificate',
      { ...good, tls: { cert: 'c.pem', key: 'k.pem' } },
      { 'c.pem': 'x', 'k.pem': 'x' },
      /\$\.tls: got "c\.pem" \+ "k\.pem"; expected a usable certificate and key: .*not a readable PEM certificate/,
    ],
    [
      'a missing certificate',
      { ...good, tls: { cert: 'nope.pem', key: 'k.pem' } },
      { 'k.pem': 'x' },
      /\$\.tls\.cert: got "nope\.pem"; expected a readable PEM file/,
    ],
  ];
  for (const [name, cfg, files, re] of cases) {
    it(`refuses ${name}`, async () => {
      const r = await runCli(['check', '-c', tmpConfig(cfg, files)]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, re);
    });
  }

  it('never prints a TLS passphrase', async () => {
    const r = await runCli(['check', '-c', tmpConfig({ ...good, tls: { cert: 'nope.pem', key: 'k.pem', passphrase: 12345 } }, { 'k.pem': 'x' })]);
    assert.equal(r.code, 1);
    assert.ok(!r.stderr.includes('12345'));
  });
});
