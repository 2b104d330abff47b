/**
 * Sticky sessions shared by several hosts through Redis (sharedState.redis).
 *
 * The primary's SessionTable stays the table workers are served from (the hot entries, pushed to
 * every worker as without Redis); this module mirrors it to Redis in the background, batched every
 * REPORT_INTERVAL_MS:
 * - a session a worker created: SET <prefix>s:<upstream>:<key> <server> PX <ttl> NX GET. When
 *   another host created the same key first (the two raced within one propagation delay) its
 *   server wins and is applied here; a moved session: plain SET.
 * - keys in use: PEXPIRE (the sliding ttlSeconds);
 * - what was written is published on <prefix>sticky; the other hosts apply it to their tables, so
 *   their workers know the session before its client comes to them.
 * While Redis is down nothing is written (the local table serves); when it returns, the local
 * sessions are written with NX (Redis wins on conflicts) and the shared ones are loaded back.
 *
 * Requests never wait for Redis: a client that reaches another host before that host learnt its
 * session is routed by the server hint in its cookie (src/worker/sticky.ts), which names the same
 * server; in ip mode it is placed by the balancing policy and corrected by the NX race above.
 */
import { REPORT_INTERVAL_MS } from '../ipc.js';
import type { SessionTable } from './sessions.js';
import type { SharedState } from './shared-state.js';

type Change = [name: string, key: string, server: string, isNew: boolean];

const RESYNC_CHUNK = 1000;

export function shareSessions(shared: SharedState, sessions: SessionTable, upstreams: () => string[]): { close(): void } {
  let changes: Change[] = [];
  let touches = new Map<string, Set<string>>();
  const rkey = (name: string, key: string) => `${shared.prefix}s:${name}:${key}`;

  sessions.onLocalChange = (name, key, server, isNew) => {
    if (shared.connected) changes.push([name, key, server, isNew]);
  };
  sessions.onTouch = (name, keys) => {
    if (!shared.connected) return;
    let t = touches.get(name);
    if (t === undefined) touches.set(name, (t = new Set()));
    for (const k of keys) t.add(k);
  };
  shared.onMessage('sticky', (payload) => {
    for (const [name, key, server] of payload as [string, string, string][]) sessions.apply(name, key, server);
  });

  /** write sends changes (NX for new ones), applies the winners of lost races, publishes the rest */
  const write = async (batch: Change[]): Promise<void> => {
    const p = shared.cmd.pipeline();
    for (const [name, key, server, isNew] of batch) {
      const ttl = sessions.ttlMs(name);
      if (ttl === 0) continue;
      if (isNew) p.set(rkey(name, key), server, 'PX', ttl, 'NX', 'GET');
      else p.set(rkey(name, key), server, 'PX', ttl);
    }
    const res = (await p.exec()) ?? [];
    const published: [string, string, string][] = [];
    for (let i = 0, j = 0; i < batch.length; i++) {
      const [name, key, server, isNew] = batch[i]!;
      if (sessions.ttlMs(name) === 0) continue;
      const [err, val] = res[j++] ?? [null, null];
      if (err) continue;
      if (isNew && typeof val === 'string' && val !== server) sessions.apply(name, key, val);
      else published.push([name, key, server]);
    }
    if (published.length) shared.publish('sticky', published);
  };

  const flush = (): void => {
    if (!shared.connected) {
      changes = [];
      touches.clear();
      return;
    }
    const batch = changes;
    const touched = touches;
    changes = [];
    touches = new Map();
    if (batch.length) write(batch).catch((err: Error) => shared.failed(err));
    if (touched.size) {
      const p = shared.cmd.pipeline();
      for (const [name, keys] of touched) {
        const ttl = sessions.ttlMs(name);
        if (ttl) for (const k of keys) p.pexpire(rkey(name, k), ttl);
      }
      p.exec().catch((err: Error) => shared.failed(err));
    }
  };
  const timer = setInterval(flush, REPORT_INTERVAL_MS);
  timer.unref();

  /** resync: the local sessions go to Redis (NX: Redis wins), then the shared ones are loaded */
  const resync = async (): Promise<void> => {
    const local = sessions.fullState().sticky?.entries ?? [];
    for (let i = 0; i < local.length; i += RESYNC_CHUNK) await write(local.slice(i, i + RESYNC_CHUNK).map(([n, k, s]) => [n, k, s, true] as Change));
    for (const name of upstreams()) {
      const max = sessions.maxEntries(name);
      if (max === 0) continue;
      const prefix = rkey(name, '');
      let cursor = '0';
      let loaded = 0;
      do {
        const [next, keys] = await shared.cmd.scan(cursor, 'MATCH', prefix.replace(/[*?[\]\\]/g, '\\$&') + '*', 'COUNT', RESYNC_CHUNK);
        cursor = next;
        if (keys.length === 0) continue;
        const vals = await shared.cmd.mget(keys);
        for (let i = 0; i < keys.length; i++) {
          const v = vals[i];
          if (typeof v === 'string') sessions.apply(name, keys[i]!.slice(prefix.length), v);
        }
        loaded += keys.length;
      } while (cursor !== '0' && loaded < max);
    }
  };
  shared.onReady(() => void resync().catch((err: Error) => shared.failed(err)));

  return {
    close() {
      clearInterval(timer);
      sessions.onLocalChange = null;
      sessions.onTouch = null;
    },
  };
}
