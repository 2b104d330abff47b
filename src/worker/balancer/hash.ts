import type { PickContext, PolicyFactory, ServerView } from './policy.js';
import { rendezvous } from './hashing.js';
import { smoothWeighted } from './round-robin.js';

/**
 * consistentHash picks by the request's hash key (a header, a cookie or the path, per the
 * upstream's hashKey) with weighted rendezvous hashing: adding or removing one of N servers moves
 * about 1/N of the keys. A request without the key goes round-robin, as nginx's `hash` does with
 * an empty key.
 */
export const consistentHash = (() => ({
  name: 'hash',
  pick(servers: readonly ServerView[], ctx: PickContext): ServerView | undefined {
    return ctx.hashKey === '' ? smoothWeighted(servers) : rendezvous(servers, ctx.hashKey);
  },
})) satisfies PolicyFactory;
