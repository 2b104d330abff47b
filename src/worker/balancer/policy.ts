/**
 * A balancing policy picks one server out of the candidates the upstream offers (already filtered
 * to available ones, primaries before backups). Policies are small and stateless between calls
 * except for what they keep on purpose (a cursor); they read only the ServerView fields.
 */
export interface ServerView {
  readonly id: string;
  readonly weight: number;
  readonly inFlight: number;
  currentWeight: number;
}

export interface PickContext {
  /** client address as text, for hashing policies */
  clientIp: string;
}

export interface Policy<S extends ServerView = ServerView> {
  readonly name: string;
  /** pick returns one of servers (never empty), or undefined when none should be used */
  pick(servers: readonly S[], ctx: PickContext): S | undefined;
}

export type PolicyFactory = () => Policy;
