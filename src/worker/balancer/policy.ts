/**
 * A balancing policy picks one server out of the candidates the upstream offers (already filtered
 * to available ones, primaries before backups). Policies are small and stateless between calls
 * except for what they keep on purpose (a cursor); they read only the ServerView fields.
 * pick() runs once per request: it must not allocate.
 */
export interface ServerView {
  readonly id: string;
  /** effective weight (the configured weight, ramped during slow start) */
  readonly weight: number;
  /** requests in flight from this worker */
  readonly inFlight: number;
  /** requests in flight from the other workers, as last merged by the primary (0 when not shared) */
  readonly remoteInFlight: number;
  /** 32-bit hash of the id, precomputed (consistent hashing) */
  readonly idHash: number;
  /** peak-EWMA of the time to the response head, in ms (least-time) */
  readonly ewmaMs: number;
  currentWeight: number;
}

export interface PickContext {
  /** client address as text, for ip-hash */
  clientIp: string;
  /** the request's hash key (header, cookie or path value) for the "hash" policy; "" when absent */
  hashKey: string;
}

export interface Policy<S extends ServerView = ServerView> {
  readonly name: string;
  /** pick returns one of servers (never empty), or undefined when none should be used */
  pick(servers: readonly S[], ctx: PickContext): S | undefined;
}

export type PolicyFactory = () => Policy;
