import type { PolicyFactory, ServerView } from './policy.js';
import { smoothWeighted } from './round-robin.js';

/**
 * leastConnections picks the server with the fewest requests in flight relative to its weight:
 * (inFlight + remoteInFlight) / weight, this worker's own count plus the other workers' as last
 * merged by the primary, so the choice reflects the whole cluster. It counts requests, not TCP
 * connections: idle keep-alive connections cost a server nothing. Ties are broken by smooth
 * weighted round-robin among the tied servers, so an idle upstream still rotates instead of
 * always hitting the first server.
 */
export const leastConnections = (() => ({
  name: 'least-connections',
  pick(servers: readonly ServerView[]): ServerView | undefined {
    return pickLowest(servers, connectionScore);
  },
})) satisfies PolicyFactory;

function connectionScore(s: ServerView): number {
  return (s.inFlight + s.remoteInFlight) / s.weight;
}

const tied: ServerView[] = [];

/** pickLowest returns the server with the lowest score; ties go smooth weighted round-robin. */
export function pickLowest<S extends ServerView>(servers: readonly S[], score: (s: S) => number): S | undefined {
  if (servers.length === 1) return servers[0];
  let bestScore = Infinity;
  tied.length = 0;
  for (let i = 0; i < servers.length; i++) {
    const s = servers[i]!;
    const v = score(s);
    if (v < bestScore) {
      bestScore = v;
      tied.length = 0;
      tied.push(s);
    } else if (v === bestScore) tied.push(s);
  }
  const pick = (tied.length === 1 ? tied[0] : smoothWeighted(tied)) as S | undefined;
  tied.length = 0;
  return pick;
}
