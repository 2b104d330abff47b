/** The only place where config policy names map to code. */
import type { Config } from '../../config/schema.js';
import type { PolicyFactory } from './policy.js';
import { roundRobin } from './round-robin.js';
import { leastConnections } from './least-connections.js';
import { ipHash } from './ip-hash.js';
import { consistentHash } from './hash.js';
import { randomTwoChoices } from './random-two-choices.js';
import { leastTime } from './least-time.js';

export const POLICIES: Record<Config['upstreams'][string]['balance'], PolicyFactory> = {
  'round-robin': roundRobin,
  // round-robin already is nginx's smooth weighted round-robin; both names are accepted
  'weighted-round-robin': roundRobin,
  'least-connections': leastConnections,
  'ip-hash': ipHash,
  hash: consistentHash,
  'random-two-choices': randomTwoChoices,
  'least-time': leastTime,
};

export type { Policy, PolicyFactory, ServerView, PickContext } from './policy.js';
