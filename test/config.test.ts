/**
 * The config contract through the CLI: `fulcrum check`, errors by JSON path, the shipped schema.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli } from './helpers/fulcrum.js';
import { jsonSchema } from '../src/config/schema.js';

function tmpConfig(obj: unknown): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return file;
}

const good = {
  upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }] } },
  routes: [{ upstream: 'app' }],
};

describe('fulcrum check', () => {
  it('accepts the default config.json', async () => {
    const r = await runCli(['check', '-c', path.join(ROOT, 'config.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid/);
    assert.match(r.stdout, /route\s+\*\/ -> app/);
  });

  it('accepts a minimal config and fills in defaults', async () => {
    const r = await runCli(['check', '-c', tmpConfig(good)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /http:\/\/0\.0\.0\.0:8080/);
  });

  const cases: [string, unknown, RegExp][] = [
    ['an unknown key', { ...good, listne: {} }, /\$\.listne: got \{\}; expected no such key/],
    ['a wrong type', { ...good, workers: 'many' }, /\$\.workers: got "many"; expected one of "auto", an integer/],
    [
      'a route to a missing upstream',
      { ...good, routes: [{ upstream: 'ghost' }] },
      /\$\.routes\[0\]\.upstream: got "ghost"; expected the name of an upstream \(one of: "app"\)/,
    ],
    [
      'a bad URL',
      { ...good, upstreams: { app: { servers: [{ url: 'localhost:9000' }] } } },
      /\$\.upstreams\.app\.servers\[0\]\.url: got "localhost:9000"; expected an http:\/\/ URL/,
    ],
    ['a port out of range', { ...good, listen: { port: 65536 } }, /\$\.listen\.port: got 65536; expected integer to be less or equal to 65535/],
    [
      'an unknown balance policy',
      { ...good, upstreams: { app: { balance: 'fastest', servers: [{ url: 'http://127.0.0.1:1' }] } } },
      /\$\.upstreams\.app\.balance: got "fastest"; expected one of "round-robin", "weighted-round-robin", "least-connections", "ip-hash", "hash", "random-two-choices", "least-time"/,
    ],
    ['a bad CIDR', { ...good, trustedProxies: ['10.0.0.0/40'] }, /\$\.trustedProxies\[0\]: got "10\.0\.0\.0\/40"/],
    ['invalid JSON', '{ "upstreams": ', /invalid JSON/],
    ['an admin listener off loopback without a token', { ...good, admin: { host: '0.0.0.0' } }, /\$\.admin\.token: got null; expected a token/],
  ];
  for (const [name, cfg, re] of cases) {
    it(`refuses ${name} with exit 1, naming the field, the value and what was expected`, async () => {
      const r = await runCli(['check', '-c', tmpConfig(cfg)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, re);
    });
  }

  it('lists every error at once', async () => {
    const r = await runCli([
      'check',
      '-c',
      tmpConfig({ listen: { port: 0 }, workers: 0, upstreams: { app: { servers: [{ url: 'x' }] } }, routes: [{ upstream: 'y' }] }),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /4 errors/);
  });

  it('never prints the admin token', async () => {
    const r = await runCli(['check', '-c', tmpConfig({ ...good, admin: { token: 42 } })]);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /42/);
    const secret = 'sup3r-s3cret-t0ken-value';
    const r2 = await runCli(['check', '-c', tmpConfig({ ...good, admin: { token: secret, bogus: 1 } })]);
    assert.equal(r2.code, 1);
    assert.doesNotMatch(r2.stderr + r2.stdout, new RegExp(secret));
  });

  it('ships config.schema.json generated from the same definition', () => {
    const shipped = JSON.parse(readFileSync(path.join(ROOT, 'config.schema.json'), 'utf8'));
    assert.deepEqual(shipped, JSON.parse(JSON.stringify(jsonSchema())));
    assert.equal(shipped.additionalProperties, false);
    assert.ok(shipped.properties.upstreams.description);
  });
});
