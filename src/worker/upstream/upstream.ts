/**
 * Upstream is the live form of one configured upstream in a worker: its servers with their
 * counters and connection pools, and the balancing policy that picks among them.
 */
import type { LoadedConfig, UpstreamSpec } from '../../config/load.js';
import type { UpstreamConfig } from '../../config/schema.js';
import { POLICIES, type PickContext, type Policy } from '../balancer/index.js';
import { ConnectionPool } from './pool.js';
import { ServerState } from './server-state.js';
import { ServerQueue } from './server-queue.js';
import { serverMetrics, type ServerMetrics } from '../obs/metrics.js';

export const enum HashKeyKind {
  None,
  Header,
  Cookie,
  Path,
}

export class Upstream {
  readonly name: string;
  readonly servers: ServerState[];
  readonly policy: Policy;
  /** "client" | "server" | literal Host value */
  readonly hostHeader: string;
  readonly spec: UpstreamSpec;
  /** where the "hash" policy's key comes from */
  readonly hashKeyKind: HashKeyKind;
  /** header or cookie name of the hash key (lower case for a header) */
  readonly hashKeyName: string;
  private readonly candidates: ServerState[] = [];
  private readonly ids = new Map<string, ServerState>();
  /** set by pick(): no server was picked because every available one is at its maxConnections */
  allFull = false;
  /** requests waiting for a server below its maxConnections */
  readonly queue: ServerQueue;
  /** what requests that found no server record (server label "") */
  readonly noServerMetrics: ServerMetrics;
  /** adaptive concurrency settings (undefined: off), applied by concurrency-share.ts */
  readonly adaptive: UpstreamConfig['adaptiveConcurrency'];
  /** workers of this config generation (a share of a limit before the primary has pushed one) */
  readonly workers: number;

  /**
   * `prev` is the same upstream under the config being replaced: servers whose settings did not
   * change are carried over with their live state (in-flight counts, pool, EWMA), so that a
   * runtime change (admin API, reload) resets nothing for the servers it does not touch.
   */
  constructor(spec: UpstreamSpec, cfg: LoadedConfig, prev?: Upstream) {
    this.name = spec.name;
    this.policy = POLICIES[spec.balance]();
    this.hostHeader = spec.hostHeader;
    this.spec = spec;
    this.adaptive = cfg.raw.upstreams[spec.name]?.adaptiveConcurrency;
    this.workers = cfg.workers;
    const hk = spec.balance === 'hash' ? spec.hashKey : undefined;
    this.hashKeyKind = hk === undefined ? HashKeyKind.None : 'header' in hk ? HashKeyKind.Header : 'cookie' in hk ? HashKeyKind.Cookie : HashKeyKind.Path;
    this.hashKeyName = hk === undefined ? '' : 'header' in hk ? hk.header.toLowerCase() : 'cookie' in hk ? hk.cookie : '';
    const t = cfg.raw.timeouts;
    this.servers = spec.servers.map((s) => {
      const opts = {
        host: s.host,
        port: s.port,
        maxConnections: spec.keepAlive.maxConnections,
        maxIdle: spec.keepAlive.maxIdle,
        idleTimeoutMs: spec.keepAlive.idleTimeoutMs,
        maxRequestsPerConnection: spec.keepAlive.maxRequestsPerConnection,
        connectTimeoutMs: t.upstreamConnectMs,
        responseTimeoutMs: t.upstreamResponseMs,
      };
      const old = prev?.byId(s.id);
      if (old && JSON.stringify(old.spec) === JSON.stringify(s) && JSON.stringify(old.pool.opts) === JSON.stringify(opts)) return old;
      return new ServerState(s, new ConnectionPool(opts));
    });
    for (const s of this.servers) this.ids.set(s.id, s);
    this.queue = new ServerQueue(this, spec.queueSize, spec.queueTimeoutMs);
    for (const s of this.servers) s.metrics = serverMetrics(spec.name, s.id);
    this.noServerMetrics = serverMetrics(spec.name, '');
  }

  /** byId returns the server with this id, if the upstream has it. */
  byId(id: string): ServerState | undefined {
    return this.ids.get(id);
  }

  /**
   * pick returns the server for a new request: available primaries first, backups when none is.
   * `tried` lists servers this request already failed on (retries never repeat a server).
   */
  pick(ctx: PickContext, tried: readonly ServerState[] | null = null): ServerState | undefined {
    const c = this.candidates;
    c.length = 0;
    this.allFull = false;
    for (const s of this.servers) if (!s.spec.backup && s.available() && (tried === null || !tried.includes(s))) this.offer(s);
    if (c.length === 0) for (const s of this.servers) if (s.spec.backup && s.available() && (tried === null || !tried.includes(s))) this.offer(s);
    // No server is up (all ejected, all failing their checks, or a single one that is): try them
    // all anyway rather than refuse every request. nginx never considers a single server
    // unavailable, and Envoy's panic threshold ignores health when too few hosts are healthy: a
    // checker that sees every server down is more often wrong (overloaded, a broken health
    // endpoint) than right, and when it is right the attempt fails fast. Drained servers stay out.
    if (c.length === 0 && !this.allFull) for (const s of this.servers) if (!s.drained && (tried === null || !tried.includes(s))) this.offer(s);
    if (c.length === 0) return undefined;
    this.allFull = false;
    const picked = this.policy.pick(c, ctx) as ServerState | undefined;
    c.length = 0;
    return picked;
  }

  /** offer adds an available server to the candidates unless it is at its maxConnections */
  private offer(s: ServerState): void {
    if (s.full()) this.allFull = true;
    else this.candidates.push(s);
  }

  /** close closes the pools of the servers that `next` (the replacing upstream) did not carry over. */
  close(next?: Upstream): void {
    for (const s of this.servers) if (next?.byId(s.id) !== s) s.pool.close();
  }
}
