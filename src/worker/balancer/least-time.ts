import type { PolicyFactory, ServerView } from './policy.js';
import { pickLowest } from './least-connections.js';

/**
 * leastTime picks the lowest (peak-EWMA of the time to the response head) x (requests in flight
 * + 1) / weight, as Finagle's and Linkerd's peak-EWMA balancers do: a server that turns slow is
 * penalised at once (the EWMA jumps to a higher sample), and recovers gradually. A server with no
 * sample yet counts as 1 ms, so new servers are tried. Ties go round-robin.
 */
export const leastTime = (() => ({
  name: 'least-time',
  pick(servers: readonly ServerView[]): ServerView | undefined {
    return pickLowest(servers, timeScore);
  },
})) satisfies PolicyFactory;

function timeScore(s: ServerView): number {
  return (Math.max(s.ewmaMs, 1) * (s.inFlight + s.remoteInFlight + 1)) / s.weight;
}
