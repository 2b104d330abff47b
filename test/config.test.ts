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

  it('points at a JSON syntax error by line and column, showing the line with a caret', async () => {
    const r = await runCli([
      'check',
      '-c',
      tmpConfig('{\n  "upstreams": {\n    "app": { "servers": [{ "url": "http://127.0.0.1:9001" }] }\n  },\n  "routes": [{ "upstream": "app" }],\n}\n'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid JSON at line 6, column 1 \(\S+config\.json:6:1\)/);
    assert.match(r.stderr, /no comma after the last element/);
    assert.match(r.stderr, /\n\s+5 \| {3}"routes": \[\{ "upstream": "app" \}\],\n\s+6 \| \}\n\s+\| \^/);
    // the error V8 reports without a position
    const r2 = await runCli(['check', '-c', tmpConfig('{ "workers": }')]);
    assert.match(r2.stderr, /line 1, column 14 .*expected a value/);
    assert.match(r2.stderr, /1 \| \{ "workers": \}\n\s+\|\s{14}\^/);
  });

  it('says the file is strict JSON when it has comments', async () => {
    for (const text of ['{\n  // the port\n  "listen": { "port": 8080 }\n}', '{ "listen": { "port": 8080 } /* x */ }']) {
      const r = await runCli(['check', '-c', tmpConfig(text)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /expected strict JSON \(RFC 8259\): comments \(\/\/ and \/\* \*\/\) are not allowed/);
    }
  });

  const conflicts: [string, unknown, RegExp][] = [
    [
      'an admin port equal to the listen port',
      { ...good, admin: { port: 8080 } },
      /\$\.admin\.port: got 8080; expected a port other than listen\.port \(8080\), since admin\.host "127\.0\.0\.1" and listen\.host "0\.0\.0\.0" overlap/,
    ],
    [
      'an admin port equal to the TLS port',
      { ...good, admin: { port: 8443 }, tls: { port: 8443, cert: 'c.pem', key: 'k.pem' } },
      /\$\.admin\.port: got 8443; expected a port other than tls\.port \(8443\)/,
    ],
    [
      'a server that is fulcrum itself',
      { ...good, upstreams: { app: { servers: [{ url: 'http://localhost:8080' }] } } },
      /\$\.upstreams\.app\.servers\[0\]\.url: got "http:\/\/localhost:8080"; expected a server other than fulcrum's own proxy listener \(0\.0\.0\.0:8080\): requests would loop/,
    ],
    [
      'an ejection longer than its maximum',
      { ...good, upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }], passiveHealth: { ejectMs: 60000, maxEjectMs: 30000 } } } },
      /\$\.upstreams\.app\.passiveHealth\.ejectMs: got 60000; expected at most passiveHealth\.maxEjectMs \(30000\)/,
    ],
    [
      'compression minBytes above maxBytes',
      { ...good, compression: { minBytes: 4096, maxBytes: 1024 } },
      /\$\.compression\.minBytes: got 4096; expected at most compression\.maxBytes \(1024\)/,
    ],
    [
      'two routes of the same name',
      {
        ...good,
        routes: [
          { upstream: 'app', name: 'api' },
          { upstream: 'app', pathPrefix: '/v2', name: 'api' },
        ],
      },
      /\$\.routes\[1\]\.name: got "api"; expected a name not already used by routes\[0\]/,
    ],
    [
      "a name equal to another route's default name",
      {
        ...good,
        routes: [
          { upstream: 'app', pathPrefix: '/v2' },
          { upstream: 'app', name: '*/v2' },
        ],
      },
      /\$\.routes\[1\]\.name: got "\*\/v2"; expected a name not already used by routes\[0\] \(a route's name defaults to host \+ pathPrefix\)/,
    ],
  ];
  it(`refuses cross-field conflicts: ${conflicts.map(([name]) => name).join('; ')}`, async () => {
    const runs = await Promise.all(conflicts.map(async ([name, cfg, re]) => ({ name, re, r: await runCli(['check', '-c', tmpConfig(cfg)]) })));
    for (const { name, re, r } of runs) {
      assert.equal(r.code, 1, name);
      assert.match(r.stderr, re, name);
    }
  });

  it('accepts an admin port equal to the listen port on another address, and names routes', async () => {
    const r = await runCli([
      'check',
      '-c',
      tmpConfig({
        ...good,
        listen: { host: '127.0.0.1', port: 8080 },
        admin: { host: '127.0.0.2', port: 8080 },
        routes: [
          { upstream: 'app', name: 'everything' },
          { upstream: 'app', pathPrefix: '/api/' },
        ],
      }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /route\s+\*\/ -> app {2}\(name "everything"\)/);
    assert.match(r.stdout, /route\s+\*\/api\/ -> app\n/);
  });

  it('ships config.schema.json generated from the same definition', () => {
    const shipped = JSON.parse(readFileSync(path.join(ROOT, 'config.schema.json'), 'utf8'));
    assert.deepEqual(shipped, JSON.parse(JSON.stringify(jsonSchema())));
    assert.equal(shipped.additionalProperties, false);
    assert.ok(shipped.properties.upstreams.description);
  });
});
