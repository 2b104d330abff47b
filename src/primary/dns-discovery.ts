/**
 * DNS discovery (upstream `discovery`): a server given by host name is resolved by the primary at
 * start and every dnsRefreshMs; each A/AAAA address (or, with `srv`, each target of the
 * "_http._tcp.<host>" SRV records, with its port and weight) becomes a server of the running
 * config, pushed to the workers the way the upstreams admin API changes servers: addresses that
 * disappear are removed (requests in flight on them finish), new ones join (slowStartMs applies).
 * A name that does not resolve keeps its last addresses (or the name itself) and is logged.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { validateConfig, type LoadedConfig } from '../config/load.js';
import type { Config, ServerConfig } from '../config/schema.js';
import { log } from '../log.js';
import type { ReloadOutcome } from './supervisor.js';

export class DnsDiscovery {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** last good answer per upstream and name: server URLs with weights */
  private readonly last = new Map<string, [string, number][]>();
  private closed = false;

  constructor(
    /** the config as written (host names), replaced on every reload */
    private source: LoadedConfig,
    private readonly current: () => LoadedConfig,
    private readonly apply: (next: LoadedConfig) => Promise<ReloadOutcome>,
  ) {}

  /** sync restarts the refresh timer for a new source config and resolves at once. */
  sync(source: LoadedConfig): Promise<void> {
    this.source = source;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const ups = Object.values(source.raw.upstreams).filter((u) => u.discovery);
    if (ups.length === 0 || this.closed) return Promise.resolve();
    const every = Math.min(...ups.map((u) => u.discovery!.dnsRefreshMs));
    this.timer = setInterval(() => void this.refresh(), every);
    this.timer.unref();
    return this.refresh();
  }

  private async refresh(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      const raw = structuredClone(this.source.raw) as Config;
      for (const [name, up] of Object.entries(raw.upstreams)) {
        if (!up.discovery) continue;
        const resolver = new Resolver({ timeout: 2000, tries: 2 });
        if (up.discovery.resolvers.length) resolver.setServers(up.discovery.resolvers);
        const out: ServerConfig[] = [];
        for (const s of up.servers) {
          const u = /^(https?):\/\/([^/:[\]]+)(?::(\d+))?\/?$/.exec(s.url);
          if (!u || isIP(u[2]!)) {
            out.push(s);
            continue;
          }
          const key = `${name} ${s.url}`;
          let found: [string, number][];
          try {
            found = await this.resolve(resolver, u[1]!, u[2]!, Number(u[3] ?? 80), up.discovery.srv, s.weight);
          } catch (err) {
            found = [];
            log.warn('dns discovery: cannot resolve; keeping the last addresses', { upstream: name, host: u[2], error: (err as Error).message });
          }
          if (found.length) this.last.set(key, found);
          const use = this.last.get(key);
          if (!use) out.push(s);
          else for (const [url, weight] of use) if (!out.some((o) => o.url === url)) out.push({ ...s, url, weight });
        }
        up.servers = out;
      }
      const now = this.current();
      const same = Object.keys(raw.upstreams).every((n) => JSON.stringify(raw.upstreams[n]!.servers) === JSON.stringify(now.raw.upstreams[n]?.servers));
      if (same || this.closed) return;
      const next = validateConfig(raw, this.source.file);
      for (const [name, up] of Object.entries(next.upstreams)) {
        if (!up.servers || !raw.upstreams[name]!.discovery) continue;
        log.info('dns discovery: servers changed', { upstream: name, servers: up.servers.map((s) => s.url) });
      }
      const out = await this.apply(next);
      if (!out.ok) log.error('dns discovery: the workers could not apply the resolved servers; the running ones stay', { reason: out.reason });
    } catch (err) {
      log.error('dns discovery: could not apply the resolved servers', { error: (err as Error).message });
    } finally {
      this.busy = false;
    }
  }

  private async resolve(resolver: Resolver, scheme: string, host: string, port: number, srv: boolean, weight: number): Promise<[string, number][]> {
    const targets: [string, number, number][] = srv
      ? (await resolver.resolveSrv(`_http._tcp.${host}`)).map((r) => [r.name, r.port, Math.max(1, Math.min(1000, r.weight || 1))])
      : [[host, port, weight]];
    const out: [string, number][] = [];
    for (const [name, p, w] of targets) {
      const addrs = isIP(name) ? [name] : [...(await resolver.resolve4(name).catch(() => [])), ...(await resolver.resolve6(name).catch(() => []))];
      for (const a of addrs.sort()) out.push([`${scheme}://${isIP(a) === 6 ? `[${a}]` : a}:${p}`, w]);
    }
    return out;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }
}
