/**
 * The upstreams admin API (on the admin listener):
 *
 *   GET    /upstreams/{name}/servers               [{ id, url, weight, backup, health, drained, inFlight }]
 *   POST   /upstreams/{name}/servers               { url, weight?, backup?, maxConnections? } -> 201 the server
 *   DELETE /upstreams/{name}/servers/{id}          204; its in-flight requests finish
 *   POST   /upstreams/{name}/servers/{id}/drain    no new requests; in-flight ones finish
 *   POST   /upstreams/{name}/servers/{id}/undrain  back in rotation (slowStartMs applies)
 *
 * Adding and removing a server changes the running config (validated like a file) and pushes it
 * to every worker the way a reload does: requests in flight finish on the connections they have.
 * A later reload from the file (SIGHUP, POST /reload) replaces these runtime changes, as with
 * HAProxy's runtime API. Drain is state, not config: it survives reloads.
 */
import { ConfigError, validateConfig, type LoadedConfig } from '../config/load.js';
import type { Config, ServerConfig } from '../config/schema.js';
import type { AdminReply, AdminServer } from './admin.js';
import type { ReloadOutcome, Supervisor } from './supervisor.js';
import { unresolvedServers } from './upstream-names.js';
import type { UpstreamRegistry } from './upstream-state.js';
import { log } from '../log.js';

export function registerUpstreamsApi(
  admin: AdminServer,
  sup: Supervisor,
  registry: UpstreamRegistry,
  apply: (next: LoadedConfig) => Promise<ReloadOutcome>,
): void {
  const list = (name: string) =>
    sup.config.upstreams[name]!.servers.map((s) => ({
      id: s.id,
      url: s.url,
      weight: s.weight,
      backup: s.backup,
      maxConnections: s.maxConnections,
      ...registry.describe(name, s.id),
    }));
  const notFound = (what: string): AdminReply => ({ status: 404, body: { error: `no such ${what}` } });
  /** the workers could not apply the change (see Supervisor.reload): nothing changed */
  const refused = (reason: string): AdminReply => ({ status: 500, body: { error: 'the workers could not apply the change; nothing changed', reason } });

  admin.route('GET', '/upstreams', () => ({
    body: Object.keys(sup.config.upstreams).map((name) => ({ name, balance: sup.config.upstreams[name]!.balance, servers: list(name) })),
  }));

  admin.route('GET', '/upstreams/{name}/servers', (req) => {
    if (!sup.config.upstreams[req.params.name!]) return notFound('upstream');
    return { body: list(req.params.name!) };
  });

  admin.route('POST', '/upstreams/{name}/servers', async (req) => {
    const name = req.params.name!;
    if (!sup.config.upstreams[name]) return notFound('upstream');
    const b = req.body as Partial<ServerConfig> | undefined;
    if (typeof b !== 'object' || b === null || typeof b.url !== 'string')
      return { status: 400, body: { error: 'expected a JSON body { "url": "http://host:port", "weight": 1 }' } };
    const raw = structuredClone(sup.config.raw) as Config;
    const servers = raw.upstreams[name]!.servers;
    servers.push({ ...b } as ServerConfig);
    let next: LoadedConfig;
    try {
      next = validateConfig(raw, sup.config.file);
    } catch (err) {
      if (err instanceof ConfigError) {
        const prefix = `$.upstreams.${name}.servers[${servers.length - 1}]`;
        const issues = err.issues.map((i) => ({ ...i, path: i.path.startsWith(prefix) ? '$' + i.path.slice(prefix.length) : i.path }));
        const dup = issues.some((i) => i.expected.startsWith('a server not already listed'));
        return { status: dup ? 409 : 400, body: { error: dup ? 'this server is already in the upstream' : 'invalid server', issues } };
      }
      throw err;
    }
    const unresolved = (await unresolvedServers(next)).filter((i) => i.path === `$.upstreams.${name}.servers[${servers.length - 1}].url`);
    if (unresolved.length) return { status: 400, body: { error: 'invalid server', issues: unresolved.map((i) => ({ ...i, path: '$.url' })) } };
    const out = await apply(next);
    if (!out.ok) return refused(out.reason);
    const added = next.upstreams[name]!.servers.at(-1)!;
    log.info('server added (admin API)', { upstream: name, server: added.id, url: added.url });
    return { status: 201, body: list(name).find((s) => s.id === added.id) };
  });

  admin.route('DELETE', '/upstreams/{name}/servers/{id}', async (req) => {
    const { name, id } = req.params as { name: string; id: string };
    const up = sup.config.upstreams[name];
    if (!up) return notFound('upstream');
    const index = up.servers.findIndex((s) => s.id === id);
    if (index === -1) return notFound('server');
    const raw = structuredClone(sup.config.raw) as Config;
    raw.upstreams[name]!.servers.splice(index, 1);
    if (!raw.upstreams[name]!.servers.some((s) => !s.backup))
      return { status: 409, body: { error: 'an upstream needs at least one non-backup server; add another first' } };
    const out = await apply(validateConfig(raw, sup.config.file));
    if (!out.ok) return refused(out.reason);
    log.info('server removed (admin API)', { upstream: name, server: id });
    return { status: 204 };
  });

  for (const action of ['drain', 'undrain'] as const) {
    admin.route('POST', `/upstreams/{name}/servers/{id}/${action}`, (req) => {
      const { name, id } = req.params as { name: string; id: string };
      if (!sup.config.upstreams[name]) return notFound('upstream');
      const e = registry.upstream(name)?.get(id);
      if (!e) return notFound('server');
      registry.setDrained(e, action === 'drain');
      return { body: list(name).find((s) => s.id === id) };
    });
  }
}
