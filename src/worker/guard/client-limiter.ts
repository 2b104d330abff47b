/**
 * Per-client connection limit across all workers (limits.maxConnectionsPerClient).
 *
 * The uWS engine gives no hook when a connection opens, and allows one request in flight per
 * connection (no pipelining), so a client's busy connections are counted as its requests in
 * flight. Idle keep-alive connections are not counted (uWS closes them after its 10 s idle timeout).
 *
 * Each worker counts its own, reports changed counts in its batched report, and the primary
 * pushes back the cluster-wide totals. Between two pushes a worker grows its count by at most its
 * 1/N share of the headroom the last push showed (limit - total), so N workers together overshoot
 * the limit by at most N - 1 connections, whatever the timing. The excess is closed at once (no response).
 */
import { addReporter, onState } from '../obs/report.js';

const local = new Map<string, number>();
/** counts changed since the last report */
const changed = new Set<string>();
/** what this worker last reported per client */
const reported = new Map<string, number>();
/** cluster-wide totals at the last push */
const totals = new Map<string, number>();
/** this worker's count when first looked at after the last push: growth since then is bounded */
const baseline = new Map<string, number>();
let registered = false;
/** the first report is sent even when empty: it tells the primary this worker (pid) starts from zero */
let announced = false;

/** admitClient counts a request in flight for `ip`; false (do not serve) when over the limit (`workers`: how many share it). */
export function admitClient(ip: string, limit: number, workers: number): boolean {
  const mine = local.get(ip) ?? 0;
  const total = totals.get(ip) ?? 0;
  const others = Math.max(0, total - (reported.get(ip) ?? 0));
  if (mine + others >= limit) return false;
  let base = baseline.get(ip);
  if (base === undefined) baseline.set(ip, (base = mine));
  if (mine - base >= Math.ceil(Math.max(0, limit - total) / Math.max(1, workers))) return false;
  local.set(ip, mine + 1);
  changed.add(ip);
  return true;
}

/** releaseClient ends a request counted by admitClient. */
export function releaseClient(ip: string): void {
  const n = (local.get(ip) ?? 1) - 1;
  if (n <= 0) local.delete(ip);
  else local.set(ip, n);
  changed.add(ip);
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
    for (const ip of changed) {
      const n = local.get(ip) ?? 0;
      out[ip] = n;
      if (n === 0) reported.delete(ip);
      else reported.set(ip, n);
    }
    changed.clear();
    return out;
  });
  onState('connections', (state) => {
    baseline.clear();
    for (const ip in state) {
      const n = state[ip]!;
      if (n <= 0) totals.delete(ip);
      else totals.set(ip, n);
    }
  });
}
