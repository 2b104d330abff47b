/**
 * Where a request's accounting happens once it is over.
 *
 * observeFinish runs once per proxied request: it counts the request per route, server and status
 * class, records its latency in the server's histogram, and hands it to the access log when one
 * is on. Per request it costs a few array increments, one recordValue and one performance.now();
 * no allocation once the route/server pair has been seen.
 *
 * observeEdge gives the access log a line for each answer fulcrum makes itself before any server
 * is involved (guard/edge-response.ts: 403, 404, 414, 429, 400, the HTTPS redirect), with the
 * request id it sent in X-Request-Id, the failure kind as `reason`, and the route when one
 * matched. It fills one reused record (lines are written synchronously): no allocation per answer.
 *
 * observeEngineAnswer does the same for the answers fulcrum's HTTP/1.1 engine writes itself to a
 * request it could not parse (engine/engine-answers.ts: 400, 408, 413, 414, 431, 505...): the
 * method, path and protocol when the request line was read (null in JSON, "-" in combined when
 * not), and totalMs 0 (the engine does not time a head it refuses).
 */
import type { ErrorKind } from '../errors.js';
import type { AnsweredConnection } from './engine/engine-answers.js';
import type { ClientExchange } from './engine/exchange.js';
import type { AccessLog, Observed } from './obs/access-log.js';
import { codeClass, type ServerMetrics } from './obs/metrics.js';

/** STATUS_CLIENT_CLOSED is logged (as nginx's 499) when the client left before any response. */
export const STATUS_CLIENT_CLOSED = 499;
/** STATUS_CLOSED is logged (as nginx's 444) when fulcrum closed the connection instead of answering (access denyAction "close"). */
export const STATUS_CLOSED = 444;

/** ProxyObserved is what metrics read of a finished proxied request besides its log line (ProxyRequest). */
interface ProxyObserved extends Observed {
  readonly route: { readonly index: number; readonly host: string; readonly pathPrefix: string; readonly name: string };
  readonly upstream: { readonly name: string; readonly noServerMetrics: ServerMetrics };
  readonly server: { readonly id: string; readonly metrics: ServerMetrics; readonly routeCodes: (Float64Array | undefined)[] } | null;
}

export function observeFinish(r: ProxyObserved, accessLog: AccessLog | null): void {
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

/** EdgeRecord is the access log's view of a request fulcrum answers itself (no body read, no server). */
class EdgeRecord implements Observed {
  seq = 0;
  startedAt = 0;
  status = 0;
  readonly headAt = 0;
  readonly bytesIn = 0;
  bytesOut = 0;
  method = '';
  target = '';
  protocol = '';
  clientIp = '';
  host = '';
  referer = '';
  userAgent = '';
  reason: ErrorKind | null = null;
  route: { readonly name: string } | null = null;
  readonly upstream = null;
  readonly server = null;
}

const edge = new EdgeRecord();

/**
 * observeEdge reads what the log needs of a request fulcrum is about to answer itself. Call it
 * before the answer (the answer ends the exchange, and with it the request's fields), then
 * observeEdgeAnswer with what was sent.
 */
export function observeEdge(ex: ClientExchange, route: { readonly name: string } | null, log: AccessLog): void {
  edge.seq = ex.seq;
  edge.startedAt = ex.startedAt;
  edge.method = ex.method;
  edge.target = ex.target;
  edge.protocol = ex.httpVersion;
  edge.clientIp = ex.peer.ip;
  edge.host = log.wantsHost ? ex.field('host') : '';
  edge.userAgent = log.wantsUserAgent ? ex.field('user-agent') : '';
  edge.referer = log.wantsReferer ? ex.field('referer') : '';
  edge.route = route;
}

/** observeEdgeAnswer writes the line of the answer observeEdge was called for. */
export function observeEdgeAnswer(status: number, reason: ErrorKind | null, bytesOut: number, log: AccessLog): void {
  edge.status = status;
  edge.reason = reason;
  edge.bytesOut = bytesOut;
  log.write(edge, status, performance.now());
  edge.route = null;
}

/** fieldOf returns a field of a [name, value, ...] list (names lowercase), or "". */
function fieldOf(fields: readonly string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}

/** observeEngineAnswer writes the line of an answer the engine wrote itself (engine-answers.ts EngineAnswerHook). */
export function observeEngineAnswer(kind: ErrorKind, status: number, seq: number, c: AnsweredConnection, bytesOut: number, log: AccessLog): void {
  const p = c.parser;
  const now = performance.now();
  edge.seq = seq;
  edge.startedAt = now;
  edge.method = p.method;
  edge.target = p.method === '' ? '' : p.target;
  edge.protocol = p.method === '' ? '' : p.minorVersion === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
  edge.clientIp = c.peer.ip;
  // the fields read so far of the refused head (none once a head was handed over: an error in its body)
  edge.host = log.wantsHost && p.method !== '' ? fieldOf(p.fields, 'host') : '';
  edge.userAgent = log.wantsUserAgent && p.method !== '' ? fieldOf(p.fields, 'user-agent') : '';
  edge.referer = log.wantsReferer && p.method !== '' ? fieldOf(p.fields, 'referer') : '';
  edge.route = null;
  edge.status = status;
  edge.reason = kind;
  edge.bytesOut = bytesOut;
  log.write(edge, status, now);
}
