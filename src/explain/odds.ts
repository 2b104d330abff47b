/**
 * The probabilities of a random pick, read off the pick itself rather than a formula beside it
 * (which could drift from the policy): the pick runs once for every combination of values its
 * random draws can take on a grid, with Math.random replaced by those values for the duration of
 * each synchronous call. random-two-choices draws an index in [0, n) and one in [0, n - 1); a grid
 * of G = n(n - 1) values per draw hits every index of both equally often, so the counts are exact.
 * Above MAX_EXACT servers the G^2 picks become too many, and the real Math.random is sampled
 * SAMPLES times instead (the answer says so).
 *
 * Only `fulcrum explain` (a CLI process, or the primary answering GET /explain) swaps Math.random,
 * never a worker, and always back before it returns.
 */

const MAX_EXACT = 12;
const SAMPLES = 20_000;

/** Odds: how often each outcome comes out of a pick. */
export interface Odds {
  /** outcome -> probability (0..1); outcomes never picked are absent */
  p: Map<string, number>;
  /** exact (every draw enumerated) or estimated from SAMPLES picks */
  exact: boolean;
}

/**
 * drawsOf runs `pick` once with Math.random counted: how many random numbers it draws (0: the pick
 * is deterministic given its state).
 */
export function drawsOf(pick: () => unknown): number {
  const real = Math.random;
  let n = 0;
  Math.random = () => {
    n++;
    return real();
  };
  try {
    pick();
  } finally {
    Math.random = real;
  }
  return n;
}

/** oddsOf returns the probabilities of the outcomes of `pick` over `candidates` servers. */
export function oddsOf(candidates: number, pick: () => string | undefined): Odds {
  const counts = new Map<string, number>();
  const real = Math.random;
  if (candidates > MAX_EXACT) {
    for (let i = 0; i < SAMPLES; i++) add(counts, pick(), 1 / SAMPLES);
    return { p: counts, exact: false };
  }
  const grid = Math.max(2, candidates * (candidates - 1));
  // an odometer over the draws of one pick: digits[i] is the grid cell of draw i
  const digits: number[] = [];
  let drawn = 0;
  Math.random = () => {
    if (drawn === digits.length) digits.push(0);
    return (digits[drawn++]! + 0.5) / grid;
  };
  try {
    for (;;) {
      drawn = 0;
      const outcome = pick();
      add(counts, outcome, grid ** -drawn);
      digits.length = drawn;
      let i = drawn - 1;
      while (i >= 0 && digits[i] === grid - 1) {
        digits.pop();
        i--;
      }
      if (i < 0) break;
      digits[i]!++;
    }
  } finally {
    Math.random = real;
  }
  return { p: counts, exact: true };
}

function add(counts: Map<string, number>, outcome: string | undefined, w: number): void {
  const k = outcome ?? '';
  counts.set(k, (counts.get(k) ?? 0) + w);
}
