/**
 * The primary's sticky-session table (src/primary/sessions.ts) when workers' reports cross: a
 * session created on one worker and moved on another a moment later (its server went down)
 * can reach the primary move first. Seen end to end in test/sticky.test.ts under load: the late
 * creation report sent the session back to the server it had left. The table keeps the later
 * decision. Driven directly, with the supervisor's one method the table calls recorded.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SessionTable } from '../src/primary/sessions.js';
import type { Supervisor } from '../src/primary/supervisor.js';
import { validateConfig } from '../src/config/load.js';
import type { StateSections } from '../src/ipc.js';

const cfg = validateConfig({
  upstreams: { app: { sticky: { mode: 'cookie' }, servers: [{ url: 'http://127.0.0.1:9001' }, { url: 'http://127.0.0.1:9002' }] } },
  routes: [{ upstream: 'app' }],
});

function table() {
  const pushed: StateSections[] = [];
  const sup = { broadcastState: (s: StateSections) => pushed.push(s) } as unknown as Supervisor;
  return { t: new SessionTable(sup, cfg), pushed };
}

describe('the session table when reports cross', () => {
  it('a move reported before the older creation keeps the session moved', () => {
    const { t } = table();
    const created = Date.now() - 50;
    t.onSticky([['app', 'k', 'a', created + 30]]); // worker 2 moved it (a was down)
    t.onSticky([['app', 'k', 'b', created]]); // worker 1's report of the creation, late
    assert.equal(t.lookup('app').get('k'), 'a');
    // reports in order apply in order
    t.onSticky([['app', 'k', 'b', created + 60]]);
    assert.equal(t.lookup('app').get('k'), 'b');
    assert.equal(t.size('app'), 1);
    t.close();
  });

  it("a worker that followed a cookie's hint (decided 0) never undoes a move, and teaches a session the table forgot", () => {
    const { t } = table();
    const moved = Date.now();
    t.onSticky([['app', 'k', 'b', moved]]); // moved to b (its first server was down)
    t.onSticky([['app', 'k', 'a', 0]]); // a worker that had not received the session yet followed the hint to a
    assert.equal(t.lookup('app').get('k'), 'b');
    t.onSticky([['app', 'n', 'a', 0]]); // a session the table does not know: learnt from the hint
    assert.equal(t.lookup('app').get('n'), 'a');
    t.close();
  });

  it('pushes only the decision that stands to the workers', async () => {
    const { t, pushed } = table();
    const at = Date.now();
    t.onSticky([['app', 'k', 'a', at + 10]]);
    t.onSticky([['app', 'k', 'b', at]]);
    // the table flushes its changes every report interval
    for (let i = 0; i < 40 && pushed.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const entries = pushed.flatMap((p) => p.sticky?.entries ?? []);
    assert.deepEqual(entries, [['app', 'k', 'a']]);
    t.close();
  });
});
