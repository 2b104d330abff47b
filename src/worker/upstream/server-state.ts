/**
 * ServerState bridges a server's configuration to its live state in this worker: requests in
 * flight, availability flags set by the primary (health, drain) and the smooth-weighted-round-robin
 * accumulator. Counters change only through countStart/countEnd.
 */
import type { ServerSpec } from '../../config/load.js';
import type { ConnectionPool } from './pool.js';

export class ServerState {
  /** requests in flight from this worker */
  inFlight = 0;
  /** set false by health checks (primary) */
  healthy = true;
  /** a drained server gets no new requests; in-flight ones finish */
  drained = false;
  /** smooth weighted round-robin accumulator (nginx's current_weight) */
  currentWeight = 0;

  constructor(
    readonly spec: ServerSpec,
    readonly pool: ConnectionPool,
  ) {}

  get id(): string {
    return this.spec.id;
  }

  get weight(): number {
    return this.spec.weight;
  }

  /** available reports whether the server may receive a new request. */
  available(): boolean {
    return this.healthy && !this.drained;
  }

  countStart(): void {
    this.inFlight++;
  }

  countEnd(): void {
    this.inFlight--;
  }
}
