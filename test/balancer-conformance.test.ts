/**
 * One conformance table for every balancing policy (Hono's runTest pattern): the same checks run
 * against each policy, with the expectations that differ stated per policy. Policies are pure
 * functions over ServerView[], so these run without processes; the end-to-end tests in
 * balancing-policies.test.ts drive a couple of them through the real proxy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { POLICIES, type PickContext, type ServerView } from '../src/worker/balancer/index.js';
import { fnv1a } from '../src/worker/balancer/hashing.js';

interface Srv extends ServerView {
  id: string;
  weight: number;
  inFlight: number;
  remoteInFlight: number;
  idHash: number;
  ewmaMs: number;
}

const srv = (id: string, weight = 1, extra: Partial<Srv> = {}): Srv => ({
  id,
  weight,
  inFlight: 0,
  remoteInFlight: 0,
  idHash: fnv1a(id),
  ewmaMs: 0,
  currentWeight: 0,
  ...extra,
});
const ctx = (i: number): PickContext => ({ clientIp: `10.0.${(i >> 8) & 255}.${i & 255}`, hashKey: `user-${i}` });

/** simulate picks `n` times with distinct keys; each pick stays in flight for `hold` more picks */
function simulate(name: string, servers: Srv[], n: number, hold = 8): Map<string, number> {
  const policy = POLICIES[name as keyof typeof POLICIES]();
  const counts = new Map<string, number>(servers.map((s) => [s.id, 0]));
  const open: Srv[] = [];
  for (let i = 0; i < n; i++) {
    const s = policy.pick(servers, ctx(i)) as Srv;
    assert.ok(servers.includes(s), `${name} picked something that is not a candidate`);
    counts.set(s.id, counts.get(s.id)! + 1);
    s.inFlight++;
    open.push(s);
    if (open.length > hold) open.shift()!.inFlight--;
  }
  return counts;
}

interface Case {
  name: string;
  /** picks by key: the same key always maps to the same server */
  keyed: boolean;
  /** reads load (in flight, local and remote) */
  loadAware: boolean;
}

const CASES: Case[] = [
  { name: 'round-robin', keyed: false, loadAware: false },
  { name: 'weighted-round-robin', keyed: false, loadAware: false },
  { name: 'least-connections', keyed: false, loadAware: true },
  { name: 'ip-hash', keyed: true, loadAware: false },
  { name: 'hash', keyed: true, loadAware: false },
  { name: 'random-two-choices', keyed: false, loadAware: true },
  { name: 'least-time', keyed: false, loadAware: true },
];

describe('balancing policy conformance', () => {
  it('every configurable policy is in the table', () => {
    assert.deepEqual(Object.keys(POLICIES).sort(), CASES.map((c) => c.name).sort());
  });

  for (const c of CASES) {
    describe(c.name, () => {
      it('picks the only server, and only among candidates', () => {
        const one = [srv('a')];
        assert.equal(POLICIES[c.name as keyof typeof POLICIES]().pick(one, ctx(1)), one[0]);
        simulate(c.name, [srv('a'), srv('b'), srv('c')], 300);
      });

      it('spreads equal servers evenly (each within 25-42% of 3000 picks)', () => {
        const counts = simulate(c.name, [srv('a'), srv('b'), srv('c')], 3000);
        for (const [id, n] of counts) assert.ok(n >= 750 && n <= 1260, `${c.name}: ${id} got ${n} of 3000 (${[...counts.values()]})`);
      });

      it('honours weights (3:1 gives the first 65-85%)', () => {
        const counts = simulate(c.name, [srv('a', 3), srv('b', 1)], 4000);
        const share = counts.get('a')! / 4000;
        assert.ok(share >= 0.65 && share <= 0.85, `${c.name}: weight-3 server got ${(share * 100).toFixed(1)}%`);
      });

      if (c.keyed) {
        it('maps a key to the same server every time', () => {
          const p = POLICIES[c.name as keyof typeof POLICIES]();
          const servers = [srv('a'), srv('b'), srv('c'), srv('d')];
          for (let i = 0; i < 50; i++) {
            const first = p.pick(servers, ctx(i));
            for (let k = 0; k < 3; k++) assert.equal(p.pick(servers, ctx(i)), first);
          }
        });

        it('removing 1 of 5 servers moves only its keys (about 1/5)', () => {
          const p = POLICIES[c.name as keyof typeof POLICIES]();
          const five = ['a', 'b', 'c', 'd', 'e'].map((id) => srv(id));
          const four = five.filter((s) => s.id !== 'c');
          const N = 5000;
          let moved = 0;
          let owned = 0;
          for (let i = 0; i < N; i++) {
            const before = p.pick(five, ctx(i))!;
            const after = p.pick(four, ctx(i))!;
            if (before.id === 'c') owned++;
            else if (before !== after) assert.fail(`key ${i} moved from ${before.id} to ${after.id} although its server stayed`);
            if (before !== after) moved++;
          }
          assert.equal(moved, owned);
          assert.ok(moved / N > 0.15 && moved / N < 0.25, `moved ${moved} of ${N}`);
        });
      } else {
        it('is not keyed: one client is spread over all servers', () => {
          const p = POLICIES[c.name as keyof typeof POLICIES]();
          const servers = [srv('a'), srv('b'), srv('c')];
          const seen = new Set<string>();
          for (let i = 0; i < 30; i++) {
            const s = p.pick(servers, ctx(7)) as Srv;
            seen.add(s.id);
            if (c.loadAware) s.inFlight++;
          }
          assert.equal(seen.size, 3);
        });
      }

      if (c.loadAware) {
        it("avoids the busier server, counting the other workers' requests too", () => {
          const p = POLICIES[c.name as keyof typeof POLICIES]();
          const local = [srv('a', 1, { inFlight: 10 }), srv('b')];
          for (let i = 0; i < 10; i++) assert.equal(p.pick(local, ctx(i))!.id, 'b');
          const remote = [srv('a'), srv('b', 1, { remoteInFlight: 10 })];
          for (let i = 0; i < 10; i++) assert.equal(p.pick(remote, ctx(i))!.id, 'a');
        });
      }
    });
  }

  it('weighted-round-robin is smooth: 5:1:1 gives a a b a c a a', () => {
    const p = POLICIES['weighted-round-robin']();
    const servers = [srv('a', 5), srv('b'), srv('c')];
    let seq = '';
    for (let i = 0; i < 14; i++) seq += p.pick(servers, ctx(i))!.id;
    assert.equal(seq, 'aabacaa'.repeat(2));
  });

  it('least-time prefers the faster server at equal load, and the idle one over a busy fast one', () => {
    const p = POLICIES['least-time']();
    const servers = [srv('slow', 1, { ewmaMs: 100 }), srv('fast', 1, { ewmaMs: 10 })];
    assert.equal(p.pick(servers, ctx(0))!.id, 'fast');
    servers[1]!.inFlight = 20; // 10 ms x 21 > 100 ms x 1
    assert.equal(p.pick(servers, ctx(0))!.id, 'slow');
  });

  it('hash without a key falls back to round-robin', () => {
    const p = POLICIES.hash();
    const servers = [srv('a'), srv('b')];
    const seq = [0, 1, 2, 3].map(() => p.pick(servers, { clientIp: '1.2.3.4', hashKey: '' })!.id).join('');
    assert.equal(seq, 'abab');
  });
});
