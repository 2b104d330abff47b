import type { PolicyFactory, ServerView } from './policy.js';

/**
 * roundRobin is nginx's smooth weighted round-robin: each pick adds every server's weight to its
 * current weight, takes the largest, and subtracts the total from the winner. Weights 5:1:1 give
 * a a b a c a a, never a burst of five a's. With equal weights it is plain rotation.
 */
export const roundRobin = (() => ({
  name: 'round-robin',
  pick(servers: readonly ServerView[]): ServerView | undefined {
    return smoothWeighted(servers);
  },
})) satisfies PolicyFactory;

export function smoothWeighted<S extends ServerView>(servers: readonly S[]): S | undefined {
  if (servers.length === 1) return servers[0];
  let best: S | undefined;
  let total = 0;
  for (let i = 0; i < servers.length; i++) {
    const s = servers[i]!;
    s.currentWeight += s.weight;
    total += s.weight;
    if (best === undefined || s.currentWeight > best.currentWeight) best = s;
  }
  if (best) best.currentWeight -= total;
  return best;
}
