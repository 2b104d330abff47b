/**
 * LatencyRecorder: the worker side of the latency histograms. It counts values in the bucket
 * layout of an HdrHistogram with 2 significant digits (1 us .. 1 h), so the primary merges them
 * into hdr-histogram-js histograms without losing resolution, and it reports only the buckets that
 * were hit, as (value, count) pairs.
 *
 * Why not hdr-histogram-js in the worker: its recordValue calls Math.pow and Math.log2 several
 * times per value (0.5% of a worker's CPU at 40k req/s), and the package (with its WebAssembly
 * build and pako) adds ~9 MiB to every worker's resident memory; its compressed base64 encoding
 * also deflates on every report.
 */

/** 2 significant digits: 256 sub-buckets, the upper 128 used by every bucket above the first */
const SUB_HALF_MAGNITUDE = 7;
const SUB_HALF = 1 << SUB_HALF_MAGNITUDE;
/** longest value kept (1 h in microseconds); longer ones are counted as this */
export const MAX_LATENCY_US = 3_600_000_000;
const BUCKETS = 25; // 256 * 2^24 > MAX_LATENCY_US
const LENGTH = (BUCKETS + 1) * SUB_HALF;

/** indexOf is hdr's countsArrayIndex for unitMagnitude 0 and 2 significant digits. */
function indexOf(v: number): number {
  const log2 = v < 0x80000000 ? 31 - Math.clz32(v) : Math.floor(Math.log2(v));
  const bucket = log2 > SUB_HALF_MAGNITUDE ? log2 - SUB_HALF_MAGNITUDE : 0;
  const sub = bucket === 0 ? v : Math.floor(v / 2 ** bucket);
  return ((bucket + 1) << SUB_HALF_MAGNITUDE) + sub - SUB_HALF;
}

/** valueAt is the lowest value of the bucket at `index` (hdr's valueFromIndex). */
function valueAt(index: number): number {
  let bucket = (index >> SUB_HALF_MAGNITUDE) - 1;
  let sub = (index & (SUB_HALF - 1)) + SUB_HALF;
  if (bucket < 0) {
    sub -= SUB_HALF;
    bucket = 0;
  }
  return sub * 2 ** bucket;
}

export class LatencyRecorder {
  private readonly counts = new Float64Array(LENGTH);
  count = 0;
  sumUs = 0;

  /** record counts one value in microseconds (clamped to 1 .. MAX_LATENCY_US). */
  record(us: number): void {
    const v = us < 1 ? 1 : us > MAX_LATENCY_US ? MAX_LATENCY_US : Math.round(us);
    this.counts[indexOf(v)]!++;
    this.count++;
    this.sumUs += v;
  }

  /** drain returns [value, count, value, count, ...] for the buckets hit since the last drain, and resets (count and sumUs too). */
  drain(): number[] {
    const out: number[] = [];
    const c = this.counts;
    for (let i = 0; i < LENGTH; i++) {
      const n = c[i]!;
      if (n !== 0) {
        out.push(valueAt(i), n);
        c[i] = 0;
      }
    }
    this.count = 0;
    this.sumUs = 0;
    return out;
  }
}
