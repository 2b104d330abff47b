/**
 * What the servers learn about the client, end to end: a real fulcrum listening on "::" in front
 * of an origin that echoes the fields it got. From 127.0.0.1 (a trusted proxy here) the forged
 * forwarding fields are a proxy's statement and are kept or extended; from ::1 (anyone) they are
 * removed and replaced, in each forwardedHeader mode. A second fulcrum trusts ::1 and not
 * 127.0.0.1, so that each address family is seen both trusted and untrusted. The head bytes of every case are in
 * head.test.ts; this checks the same rules through the engine, the proxy and the origin's parser.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createOrigin, type Origin } from './helpers/origin.js';
import { startFulcrums, type Fulcrum } from './helpers/fulcrum.js';
import { echoed, request } from './helpers/client.js';

/** ipv6Loopback tells whether ::1 can be bound here (containers without IPv6 have no ::1). */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

const FORGED: [string, string][] = [
  ['Host', 'shop.example:8080'],
  ['X-Forwarded-For', '10.9.9.9'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Port', '443'],
  ['Forwarded', 'for=10.9.9.9;proto=https'],
  ['X-Real-IP', '10.9.9.9'],
];

/** forwarding picks the forwarding fields an origin received, in order, as [name, value] pairs. */
function forwarding(rawHeaders: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const n = rawHeaders[i]!.toLowerCase();
    if (n.startsWith('x-forwarded-') || n === 'forwarded' || n === 'x-real-ip') out.push([n, rawHeaders[i + 1]!]);
  }
  return out;
}

describe('forwarding headers, end to end', async () => {
  const v6 = await ipv6Loopback();
  let origin: Origin;
  let f: Fulcrum;
  /** the same upstreams and routes, trusting ::1 instead of 127.0.0.1 */
  let g: Fulcrum;

  before(async () => {
    if (!v6) return;
    origin = await createOrigin('echo');
    const servers = [{ url: origin.url }];
    const config = (trusted: string) => ({
      workers: 1,
      listen: { host: '::' },
      trustedProxies: [trusted],
      upstreams: {
        xf: { servers },
        fwd: { servers, forwardedHeader: 'forwarded', realIpHeader: true },
        both: { servers, forwardedHeader: 'both' },
      },
      routes: [
        { pathPrefix: '/xf/', upstream: 'xf' },
        { pathPrefix: '/fwd/', upstream: 'fwd' },
        { pathPrefix: '/both/', upstream: 'both' },
      ],
    });
    [f, g] = (await startFulcrums([config('127.0.0.1'), config('::1')])) as [Fulcrum, Fulcrum];
  });
  after(async () => {
    await f?.stop();
    await g?.stop();
    await origin?.close();
  });

  const skip = v6 ? false : 'no IPv6 loopback (::1) in this environment';
  const via = async (client: '127.0.0.1' | '[::1]', path: string, to: Fulcrum = f) => {
    const r = await request(`http://${client}:${to.port}${path}`, { headers: FORGED });
    assert.equal(r.status, 200);
    return forwarding(echoed(r).rawHeaders);
  };

  it('from anyone (::1), "x-forwarded": the forged fields are gone, X-Forwarded-* are fulcrum\'s', { skip }, async () => {
    assert.deepEqual(await via('[::1]', '/xf/a'), [
      ['x-forwarded-for', '::1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'shop.example:8080'],
    ]);
  });

  it('from anyone (::1), "forwarded" with realIpHeader: Forwarded with the quoted IPv6 address, X-Real-IP', { skip }, async () => {
    assert.deepEqual(await via('[::1]', '/fwd/a'), [
      ['forwarded', 'for="[::1]";host="shop.example:8080";proto=http'],
      ['x-real-ip', '::1'],
    ]);
  });

  it('from anyone (::1), "both": both families, nothing of the client\'s', { skip }, async () => {
    assert.deepEqual(await via('[::1]', '/both/a'), [
      ['x-forwarded-for', '::1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'shop.example:8080'],
      ['forwarded', 'for="[::1]";host="shop.example:8080";proto=http'],
    ]);
  });

  it('from a trusted proxy (127.0.0.1), "x-forwarded": X-Forwarded-For extended, the rest of what it said kept', { skip }, async () => {
    assert.deepEqual(await via('127.0.0.1', '/xf/a'), [
      ['x-forwarded-port', '443'],
      ['forwarded', 'for=10.9.9.9;proto=https'],
      ['x-real-ip', '10.9.9.9'],
      ['x-forwarded-for', '10.9.9.9, 127.0.0.1'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'shop.example:8080'],
    ]);
  });

  it('from a trusted proxy (127.0.0.1), "forwarded" with realIpHeader: its Forwarded list extended, its X-Real-IP kept', { skip }, async () => {
    assert.deepEqual(await via('127.0.0.1', '/fwd/a'), [
      ['x-forwarded-for', '10.9.9.9'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-port', '443'],
      ['forwarded', 'for=10.9.9.9;proto=https, for=127.0.0.1;host="shop.example:8080";proto=http'],
      ['x-real-ip', '10.9.9.9'],
    ]);
  });

  it('from a trusted proxy (127.0.0.1), "both": both lists extended', { skip }, async () => {
    assert.deepEqual(await via('127.0.0.1', '/both/a'), [
      ['x-forwarded-port', '443'],
      ['x-real-ip', '10.9.9.9'],
      ['x-forwarded-for', '10.9.9.9, 127.0.0.1'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'shop.example:8080'],
      ['forwarded', 'for=10.9.9.9;proto=https, for=127.0.0.1;host="shop.example:8080";proto=http'],
    ]);
  });

  it('from anyone over IPv4 (127.0.0.1 where only ::1 is trusted): the forged fields are gone, in each mode', { skip }, async () => {
    assert.deepEqual(await via('127.0.0.1', '/xf/a', g), [
      ['x-forwarded-for', '127.0.0.1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'shop.example:8080'],
    ]);
    assert.deepEqual(await via('127.0.0.1', '/fwd/a', g), [
      ['forwarded', 'for=127.0.0.1;host="shop.example:8080";proto=http'],
      ['x-real-ip', '127.0.0.1'],
    ]);
  });

  it('from a trusted proxy over IPv6 (::1): its lists extended with the quoted IPv6 address', { skip }, async () => {
    assert.deepEqual(await via('[::1]', '/both/a', g), [
      ['x-forwarded-port', '443'],
      ['x-real-ip', '10.9.9.9'],
      ['x-forwarded-for', '10.9.9.9, ::1'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'shop.example:8080'],
      ['forwarded', 'for=10.9.9.9;proto=https, for="[::1]";host="shop.example:8080";proto=http'],
    ]);
  });
});
