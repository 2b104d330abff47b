/** The only place where config policy names map to code. */
import type { Config } from '../../config/schema.js';
import type { PolicyFactory } from './policy.js';
import { roundRobin } from './round-robin.js';
import { leastConnections } from './least-connections.js';

export const POLICIES: Record<Config['upstreams'][string]['balance'], PolicyFactory> = {
  'round-robin': roundRobin,
  'least-connections': leastConnections,
};

export type { Policy, PolicyFactory, ServerView, PickContext } from './policy.js';
