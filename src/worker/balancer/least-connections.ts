import type { PolicyFactory, ServerView } from './policy.js';
import { smoothWeighted } from './round-robin.js';

/**
 * leastConnections picks the server with the fewest requests in flight relative to its weight
 * (inFlight / weight). It counts requests, not TCP connections: idle keep-alive connections cost
 * a server nothing. Ties are broken by smooth weighted round-robin among the tied servers, so an
 * idle upstream still rotates instead of always hitting the first server.
 */
export const leastConnections = (() => {
  const tied: ServerView[] = [];
  return {
    name: 'least-connections',
    pick(servers: readonly ServerView[]): ServerView | undefined {
      if (servers.length === 1) return servers[0];
      let bestScore = Infinity;
      tied.length = 0;
      for (let i = 0; i < servers.length; i++) {
        const s = servers[i]!;
        const score = s.inFlight / s.weight;
        if (score < bestScore) {
          bestScore = score;
          tied.length = 0;
          tied.push(s);
        } else if (score === bestScore) tied.push(s);
      }
      const pick = tied.length === 1 ? tied[0] : smoothWeighted(tied);
      tied.length = 0;
      return pick;
    },
  };
}) satisfies PolicyFactory;
