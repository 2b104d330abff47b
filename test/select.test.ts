/**
 * The server pick (src/worker/proxy/select.ts) that HTTP requests and WebSocket upgrades share,
 * over real Upstream objects built from a validated config: every policy where the pick is
 * deterministic, backups, the hash key from a header or a cookie, sticky sessions, the
 * maxConnections queue hand-off, and retries that never repeat a server. No process, no socket.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../src/config/load.js';
import { reselect, selectServer, waitForServer, type Selection } from '../src/worker/proxy/select.js';
import type { QueueWaiter } from '../src/worker/upstream/server-queue.js';
import { Upstream } from '../src/worker/upstream/upstream.js';

function upstream(spec: Record<string, unknown>, servers = 3): Upstream {
  const list = (spec.servers as unknown[]) ?? Array.from({ length: servers }, (_, i) => ({ url: `http://127.0.0.1:${9001 + i}` }));
  const cfg = validateConfig({ upstreams: { app: { ...spec, servers: list } }, routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }] });
  return new Upstream(cfg.upstreams.app!, cfg);
}

function req(fields: string[] = []): { field(name: string): string } {
  return {
    field(name: string): string {
      for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
      return '';
    },
  };
}

const sel = (clientIp = '203.0.113.7'): Selection => ({ clientIp, hashKey: '', stickyKey: '', setCookie: '' });

/** ports of `n` picks, each finished before the next */
function picks(up: Upstream, n: number, s: () => Selection = sel, r = req()): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(selectServer(up, r, '/p', s(), true)!.spec.port);
  return out;
}

describe('server selection', () => {
  it('round-robin rotates', () => {
    assert.deepEqual(picks(upstream({ balance: 'round-robin' }), 6), [9001, 9002, 9003, 9001, 9002, 9003]);
  });

  it('weighted-round-robin is smooth (weights 5:1:1 give a a b a c a a)', () => {
    const up = upstream({
      balance: 'weighted-round-robin',
      servers: [
        { url: 'http://127.0.0.1:9001', weight: 5 },
        { url: 'http://127.0.0.1:9002', weight: 1 },
        { url: 'http://127.0.0.1:9003', weight: 1 },
      ],
    });
    assert.deepEqual(picks(up, 7), [9001, 9001, 9002, 9001, 9003, 9001, 9001]);
  });

  it('least-connections takes the server with the fewest requests in flight', () => {
    const up = upstream({ balance: 'least-connections' });
    up.servers[0]!.countStart();
    up.servers[1]!.countStart();
    up.servers[1]!.countStart();
    assert.equal(selectServer(up, req(), '/', sel(), true)!.spec.port, 9003);
    up.servers[2]!.countStart();
    up.servers[2]!.countStart();
    assert.equal(selectServer(up, req(), '/', sel(), true)!.spec.port, 9001);
  });

  it('ip-hash keeps a client address on one server', () => {
    const up = upstream({ balance: 'ip-hash' });
    const a = picks(up, 5, () => sel('198.51.100.1'));
    assert.equal(new Set(a).size, 1);
    const spread = new Set(Array.from({ length: 64 }, (_, i) => selectServer(up, req(), '/', sel(`198.51.100.${i}`), true)!.spec.port));
    assert.ok(spread.size > 1, 'different addresses reach different servers');
  });

  it('hash by header, by cookie and by path keeps a key on one server', () => {
    const byHeader = upstream({ balance: 'hash', hashKey: { header: 'X-User' } });
    const s = sel();
    const first = selectServer(byHeader, req(['x-user', 'alice']), '/', s, true)!.spec.port;
    assert.equal(s.hashKey, 'alice');
    for (let i = 0; i < 5; i++) assert.equal(selectServer(byHeader, req(['x-user', 'alice']), '/', sel(), true)!.spec.port, first);
    const byCookie = upstream({ balance: 'hash', hashKey: { cookie: 'uid' } });
    const c = sel();
    selectServer(byCookie, req(['cookie', 'a=1; uid=42; b=2']), '/', c, true);
    assert.equal(c.hashKey, '42');
    const byPath = upstream({ balance: 'hash', hashKey: { path: true } });
    const p = sel();
    selectServer(byPath, req(), '/files/x?v=1', p, true);
    assert.equal(p.hashKey, '/files/x');
  });

  it('least-time takes the server with the lowest response time', () => {
    const up = upstream({ balance: 'least-time' });
    const now = performance.now();
    up.servers[0]!.recordLatency(50, now);
    up.servers[1]!.recordLatency(5, now);
    up.servers[2]!.recordLatency(20, now);
    assert.equal(selectServer(up, req(), '/', sel(), true)!.spec.port, 9002);
  });

  it('random-two-choices picks one of the servers', () => {
    const up = upstream({ balance: 'random-two-choices' });
    for (let i = 0; i < 20; i++) assert.ok([9001, 9002, 9003].includes(selectServer(up, req(), '/', sel(), true)!.spec.port));
  });

  it('backups serve only when no primary is available', () => {
    const up = upstream({
      servers: [{ url: 'http://127.0.0.1:9001' }, { url: 'http://127.0.0.1:9002', backup: true }],
    });
    assert.deepEqual(picks(up, 3), [9001, 9001, 9001]);
    up.servers[0]!.healthy = false;
    assert.deepEqual(picks(up, 2), [9002, 9002]);
  });

  it('a cookie session is created once, then followed', () => {
    const up = upstream({ sticky: { mode: 'cookie', cookieName: 'sid' } });
    const s = sel();
    const first = selectServer(up, req(), '/', s, true)!;
    assert.match(s.setCookie, /^sid=[A-Za-z0-9_-]{22}\.[0-9a-z]{9}; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = s.setCookie.slice(0, s.setCookie.indexOf(';'));
    for (let i = 0; i < 4; i++) {
      const again = sel();
      assert.equal(selectServer(up, req(['cookie', cookie]), '/', again, true), first);
      assert.equal(again.setCookie, '');
      assert.equal(again.stickyKey, cookie.slice(4));
    }
  });

  it('an address session keys by the client address', () => {
    const up = upstream({ sticky: { mode: 'ip' } });
    const s = sel('192.0.2.9');
    const first = selectServer(up, req(), '/', s, true)!;
    assert.equal(s.stickyKey, '192.0.2.9');
    for (let i = 0; i < 4; i++) assert.equal(selectServer(up, req(), '/', sel('192.0.2.9'), true), first);
  });

  it('a retry never repeats a server, and moves the session', () => {
    const up = upstream({ sticky: { mode: 'ip' } });
    const s = sel('192.0.2.10');
    const first = selectServer(up, req(), '/', s, true)!;
    const tried = [first];
    const second = reselect(up, s, tried)!;
    assert.notEqual(second, first);
    tried.push(second);
    const third = reselect(up, s, tried)!;
    assert.ok(third !== first && third !== second);
    tried.push(third);
    assert.equal(reselect(up, s, tried), undefined);
    // the session follows the last move
    assert.equal(selectServer(up, req(), '/', sel('192.0.2.10'), true), third);
  });

  it('queues when every server is at maxConnections, and does not overtake those waiting', () => {
    const up = upstream({ queueSize: 1, servers: [{ url: 'http://127.0.0.1:9001', maxConnections: 1 }] });
    const server = selectServer(up, req(), '/', sel(), true)!;
    server.countStart();
    assert.equal(selectServer(up, req(), '/', sel(), true), undefined);
    const turns: string[] = [];
    const waiter = (name: string): QueueWaiter => ({
      queueCancelled: false,
      queueDeadline: 0,
      onQueueTurn: () => {
        const got = reselect(up, sel(), null);
        if (got === undefined) return false;
        turns.push(name);
        return true;
      },
      onQueueTimeout: () => {},
    });
    assert.equal(waitForServer(up, waiter('first')), null);
    // one waits already: a new request queues behind it (and the queue, of size 1, is full)
    assert.equal(selectServer(up, req(), '/', sel(), true), undefined);
    assert.equal(waitForServer(up, waiter('second')), 'queue-full');
    // WebSocket handshakes do not queue: they pick (and find the server full)
    assert.equal(selectServer(up, req(), '/', sel(), false), undefined);
    server.countEnd();
    up.queue.drain();
    assert.deepEqual(turns, ['first']);
  });

  it('answers no-server when nothing can take the request', () => {
    const up = upstream({}, 1);
    up.servers[0]!.drained = true;
    assert.equal(selectServer(up, req(), '/', sel(), true), undefined);
    assert.equal(waitForServer(up, { queueCancelled: false, queueDeadline: 0, onQueueTurn: () => true, onQueueTimeout: () => {} }), 'no-server');
  });
});
