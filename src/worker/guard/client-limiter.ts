/**
 * Per-client connection limit across all workers (limits.maxConnectionsPerClient).
 *
 * What counts: a connection while it has a request in flight. An HTTP/1.1 connection carries one
 * at a time; an HTTP/2 connection counts once however many streams it carries (they are bounded by
 * http2.maxConcurrentStreams), through its ClientPeer's `busy`. The uWS engine shares one peer
 * between connections and allows one request in flight per connection, so there each request counts.
 * Idle keep-alive connections are not counted.
 *
 * Each worker counts its own and reports, per client that changed, the PEAK of its count since
 * its previous report; the primary sums the peaks and pushes back to each worker, per client,
 * [its own peak as the push counted it, the cluster total]. A worker's ceiling until the next
 * push is its own peak plus its 1/N share of the headroom (limit - total); for a client no push
 * has shown, its share of the limit. The ceilings of one push sum to the limit, so N workers
 * together overshoot it by at most N - 1 connections (rounding), whatever the timing.
 * Peaks, not instantaneous counts: connections that go busy and idle in bursts (clients in
 * lock-step, a batch of requests refilled as it completes) swing a worker's count between ~0 and
 * its real load many times per push. A count taken in a dip, set against a total that still held
 * the same connections, made a client far under the limit look like one growing past it. A peak
 * decays at the report after the load drops (the worker reports its count again).
 * The excess is closed at once (no response).
 */
import { addReporter, onState } from '../obs/report.js';

/** what the limiter needs of a connection's ClientPeer (engine/exchange.ts): its address and its busy count */
interface CountedPeer {
  readonly ip: string;
  busy: number;
}

/** a client's requests in flight in this worker, and the most since the last report */
interface Count {
  n: number;
  peak: number;
}
const local = new Map<string, Count>();
/** clients whose count changed since the last report (or whose peak is still to decay) */
const changed = new Set<string>();
/** per client at the last push: [this worker's peak as the push counted it, the cluster total] */
const pushed = new Map<string, [number, number]>();
let registered = false;
/** the first report is sent even when empty: it tells the primary this worker (pid) starts from zero */
let announced = false;

/** admitClient counts `peer`'s connection as busy for one more request; false (do not serve) when over the limit (`workers`: how many share it). */
export function admitClient(peer: CountedPeer, limit: number, workers: number): boolean {
  // a connection already counted (another HTTP/2 stream of it): no new connection
  if (peer.busy > 0) {
    peer.busy++;
    return true;
  }
  const ip = peer.ip;
  let c = local.get(ip);
  const mine = c === undefined ? 0 : c.n;
  const p = pushed.get(ip);
  const share = Math.max(1, workers);
  const ceiling = p === undefined ? Math.ceil(limit / share) : p[0] + Math.ceil(Math.max(0, limit - p[1]) / share);
  if (mine >= ceiling) return false;
  if (peer.busy === 0) peer.busy = 1;
  if (c === undefined) local.set(ip, (c = { n: 0, peak: 0 }));
  if (++c.n > c.peak) c.peak = c.n;
  changed.add(ip);
  return true;
}

/** releaseClient ends a request counted by admitClient; its connection stops counting with its last one. */
export function releaseClient(peer: CountedPeer): void {
  if (peer.busy > 1) {
    peer.busy--;
    return;
  }
  if (peer.busy === 1) peer.busy = 0;
  const c = local.get(peer.ip);
  if (c === undefined) return;
  if (c.n > 0) c.n--;
  changed.add(peer.ip);
}

/** report: the peak since the last report of each changed client; a peak above the count now is reported again next time, decayed */
function report(out: Record<string, number>): void {
  for (const ip of changed) {
    const c = local.get(ip);
    out[ip] = c === undefined ? 0 : c.peak;
    if (c === undefined) changed.delete(ip);
    else if (c.peak === c.n) {
      changed.delete(ip);
      if (c.n === 0) local.delete(ip);
    } else c.peak = c.n;
  }
}

export function registerClientLimiter(): void {
  if (registered) return;
  registered = true;
  addReporter('connections', () => {
    if (changed.size === 0) {
      if (announced) return undefined;
      announced = true;
      return {};
    }
    announced = true;
    const out: Record<string, number> = {};
    report(out);
    return out;
  });
  onState('connections', (state) => {
    for (const ip in state) {
      const p = state[ip]!;
      if (p[1] <= 0) pushed.delete(ip);
      else pushed.set(ip, p);
    }
  });
}
