/**
 * One load run with autocannon, driven in-process, with every response's latency recorded in
 * microseconds in an HdrHistogram (autocannon's own histogram has 1 ms resolution, too coarse
 * for a proxy on loopback).
 */
import type { EventEmitter } from 'node:events';
import autocannonUntyped from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import type { Workload } from './workloads.js';

// The part of autocannon's API used here (the package ships no types; scripts/autocannon.d.ts
// declares the module as untyped).
interface AutocannonResult {
  requests: { total: number };
  throughput: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  duration: number;
}
type Autocannon = (
  opts: { url: string; connections: number; duration: number; method: string; headers: Record<string, string>; body?: Buffer; timeout: number },
  cb: (err: Error | null, r: AutocannonResult) => void,
) => EventEmitter;
const autocannon = autocannonUntyped as Autocannon;

export interface LoadResult {
  requests: number;
  rps: number;
  errors: number;
  /** bytes per second received */
  throughput: number;
  durationS: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** the latency percentile curve: [percentile, microseconds] */
  curve: [number, number][];
  /** counts per latency bin: [upper bound in microseconds, count] */
  bins: [number, number][];
  /** the whole histogram, HdrHistogram compressed base64 (hdr.decodeFromCompressedBase64) */
  histogram: string;
}

export interface LoadOptions {
  url: string;
  workload: Workload;
  durationS: number;
  /** called about once a second with the requests completed so far and the seconds elapsed */
  onTick?: (requests: number, elapsedS: number) => void;
}

export function requestBody(w: Workload): Buffer | undefined {
  return w.bodyBytes ? Buffer.alloc(w.bodyBytes, 'y') : undefined;
}

/**
 * LatencyRecorder collects latencies in microseconds (an HdrHistogram and quarter-octave bins)
 * and turns them into the latency part of a LoadResult; every load driver uses it.
 */
export class LatencyRecorder {
  private readonly hist = hdr.build({
    bitBucketSize: 32,
    useWebAssembly: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  private readonly bins = new Float64Array(BIN_COUNT);

  record(us: number): void {
    us = Math.max(1, Math.round(us));
    this.hist.recordValue(us);
    this.bins[Math.min(BIN_COUNT - 1, Math.floor(Math.log2(us) * BINS_PER_OCTAVE))]!++;
  }

  /** summary returns the percentiles, curve, bins and encoded histogram, and frees the histogram. */
  summary(): Pick<LoadResult, 'latencyUs' | 'curve' | 'bins' | 'histogram'> {
    const h = this.hist;
    const out = {
      latencyUs: {
        p50: h.getValueAtPercentile(50),
        p90: h.getValueAtPercentile(90),
        p99: h.getValueAtPercentile(99),
        p999: h.getValueAtPercentile(99.9),
        max: h.maxValue,
        mean: Math.round(h.mean),
      },
      curve: percentileCurve(h),
      bins: binList(this.bins),
      histogram: hdr.encodeIntoCompressedBase64(h),
    };
    h.destroy();
    return out;
  }
}

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const w = o.workload;
  const lat = new LatencyRecorder();
  const body = requestBody(w);
  const headers: Record<string, string> = { ...w.headers };
  if (body) headers['content-type'] = 'application/octet-stream';
  return new Promise((resolve, reject) => {
    let done = 0;
    let elapsed = 0;
    const inst = autocannon(
      { url: o.url + w.path, connections: w.connections, duration: o.durationS, method: w.method, headers, body, timeout: 10 },
      (err, r) => {
        if (err) return reject(err);
        resolve({
          requests: r.requests.total,
          rps: r.requests.total / (r.duration || o.durationS),
          errors: r.errors + r.timeouts + r.non2xx + r.mismatches,
          throughput: r.throughput.total / (r.duration || o.durationS),
          durationS: r.duration,
          ...lat.summary(),
        });
      },
    );
    inst.on('response', (_c: unknown, status: number, _bytes: number, ms: number) => {
      if (status < 400) lat.record(ms * 1000);
      done++;
    });
    inst.on('tick', () => {
      elapsed++;
      o.onTick?.(done, elapsed);
    });
  });
}

/** percentileCurve samples the histogram at percentiles spaced evenly on a log(1/(1-p)) axis, up to 99.999. */
function percentileCurve(h: hdr.Histogram): [number, number][] {
  const out: [number, number][] = [];
  if (h.totalCount === 0) return out;
  for (let i = 0; i <= 100; i++) {
    const p = (1 - 10 ** ((-i * 5) / 100)) * 100;
    out.push([Number(p.toFixed(4)), h.getValueAtPercentile(p)]);
  }
  return out;
}

const BINS_PER_OCTAVE = 4;
const BIN_COUNT = 27 * BINS_PER_OCTAVE; // up to 2^27 us (134 s)

/** binList turns the quarter-octave bins into [upper bound in microseconds, count], trimmed to the used range. */
function binList(bins: Float64Array): [number, number][] {
  let first = bins.findIndex((c) => c > 0);
  if (first < 0) return [];
  let last = BIN_COUNT - 1;
  while (bins[last] === 0) last--;
  first = Math.max(0, first - 1);
  const out: [number, number][] = [];
  for (let i = first; i <= Math.min(BIN_COUNT - 1, last + 1); i++) out.push([Math.round(2 ** ((i + 1) / BINS_PER_OCTAVE)), bins[i]!]);
  return out;
}
