import type { PolicyFactory, ServerView } from './policy.js';

/**
 * randomTwoChoices is the power of two choices: draw two different servers at random and take the
 * one with fewer requests in flight per weight (cluster-wide when shared). Nearly as even as
 * least-connections, without every worker herding onto the same "least" server between updates.
 */
export const randomTwoChoices = (() => ({
  name: 'random-two-choices',
  pick(servers: readonly ServerView[]): ServerView | undefined {
    const n = servers.length;
    if (n <= 1) return servers[0];
    const i = (Math.random() * n) | 0;
    let j = (Math.random() * (n - 1)) | 0;
    if (j >= i) j++;
    const a = servers[i]!;
    const b = servers[j]!;
    return (a.inFlight + a.remoteInFlight) / a.weight <= (b.inFlight + b.remoteInFlight) / b.weight ? a : b;
  },
})) satisfies PolicyFactory;
