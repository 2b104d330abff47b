/**
 * Upstream is the live form of one configured upstream in a worker: its servers with their
 * counters and connection pools, and the balancing policy that picks among them.
 */
import type { LoadedConfig, UpstreamSpec } from '../../config/load.js';
import { POLICIES, type PickContext, type Policy } from '../balancer/index.js';
import { ConnectionPool } from './pool.js';
import { ServerState } from './server-state.js';

export class Upstream {
  readonly name: string;
  readonly servers: ServerState[];
  readonly policy: Policy;
  /** "client" | "server" | literal Host value */
  readonly hostHeader: string;
  private readonly candidates: ServerState[] = [];

  constructor(spec: UpstreamSpec, cfg: LoadedConfig) {
    this.name = spec.name;
    this.policy = POLICIES[spec.balance]();
    this.hostHeader = spec.hostHeader;
    const t = cfg.raw.timeouts;
    this.servers = spec.servers.map(
      (s) =>
        new ServerState(
          s,
          new ConnectionPool({
            host: s.host,
            port: s.port,
            maxConnections: spec.keepAlive.maxConnections,
            maxIdle: spec.keepAlive.maxIdle,
            idleTimeoutMs: spec.keepAlive.idleTimeoutMs,
            maxRequestsPerConnection: spec.keepAlive.maxRequestsPerConnection,
            connectTimeoutMs: t.upstreamConnectMs,
            responseTimeoutMs: t.upstreamResponseMs,
          }),
        ),
    );
  }

  /** pick returns the server for a new request: available primaries first, backups when none is. */
  pick(ctx: PickContext): ServerState | undefined {
    const c = this.candidates;
    c.length = 0;
    for (const s of this.servers) if (!s.spec.backup && s.available()) c.push(s);
    if (c.length === 0) for (const s of this.servers) if (s.spec.backup && s.available()) c.push(s);
    if (c.length === 0) return undefined;
    const picked = this.policy.pick(c, ctx) as ServerState | undefined;
    c.length = 0;
    return picked;
  }

  close(): void {
    for (const s of this.servers) s.pool.close();
  }
}
