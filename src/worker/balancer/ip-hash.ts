import type { PickContext, PolicyFactory, ServerView } from './policy.js';
import { rendezvous } from './hashing.js';

/**
 * ipHash sends a client address always to the same server while it is available (weighted
 * rendezvous hashing over the full address; nginx's ip_hash uses only the first three IPv4
 * octets). When that server goes away only its clients move.
 */
export const ipHash = (() => ({
  name: 'ip-hash',
  pick(servers: readonly ServerView[], ctx: PickContext): ServerView | undefined {
    return rendezvous(servers, ctx.clientIp);
  },
})) satisfies PolicyFactory;
