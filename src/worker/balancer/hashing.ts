/**
 * Hashing helpers shared by ip-hash and hash: 32-bit FNV-1a over a string, murmur3's finaliser to
 * mix two hashes, and weighted rendezvous (highest random weight) hashing, which needs no ring:
 * every server scores every key and the best score wins, so removing one of N servers moves only
 * the keys that server owned (about 1/N) and adding one takes about 1/(N+1).
 * See Thaler & Ravishankar, "Using name-based mappings to increase hit rates" (1998), and
 * Resch, "New hashing algorithms for data storage" (weighted form: -w / ln(h)).
 */
import type { ServerView } from './policy.js';

/** fnv1a returns the 32-bit FNV-1a hash of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mix32 combines two 32-bit hashes into a well-spread one (murmur3 fmix32). */
export function mix32(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** rendezvous returns the server with the highest weighted score for key. */
export function rendezvous<S extends ServerView>(servers: readonly S[], key: string): S | undefined {
  if (servers.length <= 1) return servers[0];
  const k = fnv1a(key);
  let best: S | undefined;
  let bestScore = -Infinity;
  for (let i = 0; i < servers.length; i++) {
    const s = servers[i]!;
    // h in (0, 1): -w / ln(h) is the weighted HRW score
    const h = (mix32(k, s.idHash) + 0.5) / 4294967296;
    const score = -s.weight / Math.log(h);
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return best;
}
