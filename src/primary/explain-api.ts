/**
 * GET /explain on the admin listener: what the running fulcrum would do with one request, and
 * why (src/explain/; `fulcrum explain --live` and the dashboard's form call it). It changes
 * nothing, so it is a GET, under the same Host, Origin and token rules as every admin endpoint
 * (admin-guard.ts; the token only as a bearer header, never ?token=).
 *
 *   GET /explain?method=GET&url=http://shop.example.com/api/users&header=Cookie:%20a%3D1&client=203.0.113.7
 *
 * 200 with the explanation (src/explain/explanation.ts), 400 saying what is wrong with the query.
 * The cache lives in the workers: the first running worker is asked over IPC (a cache probe,
 * StateSections.cacheProbe, answered with ReportSections.cacheProbe) and its answer names it; no
 * answer within PROBE_WAIT_MS leaves the entry unknown, and the explanation says so.
 */
import type { CacheProbe, CacheProbeAnswer } from '../ipc.js';
import type { AdminServer } from './admin.js';
import type { RateLimitTable } from './rate-limit-table.js';
import type { SessionTable } from './sessions.js';
import type { Supervisor } from './supervisor.js';
import type { UpstreamRegistry } from './upstream-state.js';

const PROBE_WAIT_MS = 1000;
const USAGE = 'give ?method=GET&url=http://host/path, and optionally &header=Name:%20value (repeated) and &client=203.0.113.7';

export function registerExplainApi(admin: AdminServer, sup: Supervisor, registry: UpstreamRegistry, sessions: SessionTable, rates: RateLimitTable): void {
  let probeId = 0;
  const waiting = new Map<number, (a: CacheProbeAnswer) => void>();
  sup.reports.on('cacheProbe', (a) => waiting.get(a.id)?.(a));

  const probeCache = (p: Omit<CacheProbe, 'id'>): Promise<CacheProbeAnswer | null> => {
    const slot = sup.workers().find((w) => w.pid !== undefined)?.index;
    if (slot === undefined) return Promise.resolve(null);
    const id = ++probeId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(null);
      }, PROBE_WAIT_MS);
      waiting.set(id, (a) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(a);
      });
      sup.sendState(slot, { cacheProbe: { id, ...p } });
    });
  };

  admin.route('GET', '/explain', async (req) => {
    const q = req.query;
    const url = q.get('url');
    if (!url) return { status: 400, body: { error: `no url: ${USAGE}` } };
    const unknown = [...new Set(q.keys())].filter((k) => !['method', 'url', 'header', 'client'].includes(k));
    if (unknown.length) return { status: 400, body: { error: `unknown parameter ${unknown.join(', ')}: ${USAGE}` } };
    // the worker's modules are loaded on the first question only
    const { explainLive } = await import('../explain/live.js');
    const out = await explainLive(
      {
        config: sup.config,
        generation: sup.generation,
        state: registry.fullState(),
        sessions: (name) => sessions.lookup(name),
        rateTokens: (key) => rates.tokens(key),
        probeCache,
      },
      { method: q.get('method') || 'GET', url, headers: q.getAll('header'), client: q.get('client') || undefined },
    );
    if (typeof out === 'string') return { status: 400, body: { error: out } };
    return { body: out };
  });
}
