/**
 * observeFinish runs once per proxied request when it is over: it counts the request per route,
 * server and status class, records its latency in the server's histogram, and hands it to the
 * access log when one is on. Per request it costs a few array increments, one recordValue and one
 * performance.now(); no allocation once the route/server pair has been seen.
 */
import type { AccessLog, Observed } from './access-log.js';
import { codeClass } from './metrics.js';

/** STATUS_CLIENT_CLOSED is logged (as nginx's 499) when the client left before any response. */
export const STATUS_CLIENT_CLOSED = 499;

export function observeFinish(r: Observed, accessLog: AccessLog | null): void {
  const now = performance.now();
  const status = r.status === 0 ? STATUS_CLIENT_CLOSED : r.status;
  const route = r.route;
  const server = r.server;
  let codes: Float64Array;
  if (server !== null) {
    codes = server.routeCodes[route.index] ??= server.metrics.codesFor(route.host + route.pathPrefix);
    server.metrics.recordLatency(now - r.startedAt);
  } else {
    codes = r.upstream.noServerMetrics.codesFor(route.host + route.pathPrefix);
  }
  codes[r.status === 0 ? 0 : codeClass(status)]!++;
  if (accessLog !== null) accessLog.write(r, status, now);
}
