/**
 * Responses fulcrum writes itself (denied, too large, malformed, no server...): short, generic,
 * the configured error page where there is one (responses.errorPages), the Server header of the
 * response policy, and X-Request-Id on every one, so that a client's report can be found in the
 * log. Status and metric come from the error table (src/errors.ts); edge rejections, answered
 * before any server is involved, count in fulcrum_rejections_total and get their access log line
 * here (observe.ts observeEdge), with the kind as its reason; the proxy's own failures are
 * logged when the request is over (observeFinish).
 */
import { ERRORS, type ErrorKind } from '../../errors.js';
import { STATUS_LINES } from '../../net/http-status.js';
import type { ClientExchange } from '../engine/exchange.js';
import type { AccessLog } from '../obs/access-log.js';
import { counter, type CounterChild } from '../obs/metrics.js';
import { observeEdge, observeEdgeAnswer, STATUS_CLOSED } from '../observe.js';
import { requestId } from '../obs/request-id.js';
import type { ResponsePolicy } from './response-policy.js';

/** What an edge answer needs of its config generation (the worker's Runtime has both). */
interface EdgeSettings {
  readonly responses: ResponsePolicy;
  readonly accessLog: AccessLog | null;
}

/** The route an edge answer names in the access log (a RouteTarget), when one matched. */
type LoggedRoute = { readonly name: string } | null;

const rejections = new Map<string, CounterChild>();
function countRejection(reason: string): void {
  let c = rejections.get(reason);
  if (c === undefined)
    rejections.set(reason, (c = counter('fulcrum_rejections_total', 'Requests rejected before any backend, by reason.', ['reason']).labels(reason)));
  c.inc();
}

/** Where a HeaderWriter adds fields: the exchange itself, or the field list of a generated response. */
export interface HeaderSink {
  writeHeader(name: string, value: string | Buffer): void;
}

/** Something that adds its own fields to a response (the cache's Cache-Status, compression's Vary). */
export interface HeaderWriter {
  writeHeaders(out: HeaderSink): void;
}

// The field list of the response being generated: respond() reads it synchronously, so one list serves all.
const fields: (string | Buffer)[] = [];
const sink: HeaderSink = {
  writeHeader(name: string, value: string | Buffer): void {
    fields.push(name, value);
  },
};

/**
 * respondGenerated answers `status` with the configured page or `text` (default: the status line),
 * X-Request-Id, and whatever `extra` adds. `close` ends the connection after it.
 */
export function respondGenerated(
  ex: ClientExchange,
  status: number,
  close: boolean,
  policy: ResponsePolicy,
  text: string | null,
  extra: HeaderWriter | null,
  retryAfter: string | null = null,
): void {
  const page = policy.page(status);
  fields.length = 0;
  if (retryAfter !== null) fields.push('Retry-After', retryAfter);
  fields.push('Content-Type', page !== undefined ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
  if (policy.serverHeader !== null) fields.push('Server', policy.serverHeader);
  fields.push('X-Request-Id', requestId(ex.seq));
  if (extra !== null) extra.writeHeaders(sink);
  const line = STATUS_LINES[status];
  ex.respond(status, line === undefined ? '' : line.slice(4), fields, page ?? text ?? `${line ?? status}\n`, close);
  fields.length = 0;
}

const RETRY_AFTER: string[] = [];

/**
 * respondEdge rejects a request at the edge with the kind's status, counts it and logs it;
 * `route` is the route that matched (null before routing or when none did), `text` replaces the
 * default body, and a 429 carries Retry-After (`retryAfterSeconds`).
 */
export function respondEdge(
  ex: ClientExchange,
  kind: ErrorKind,
  edge: EdgeSettings,
  route: LoggedRoute = null,
  text: string | null = null,
  retryAfterSeconds = 0,
): void {
  const e = ERRORS[kind];
  if (e.rejection !== null) countRejection(e.rejection);
  const retryAfter = retryAfterSeconds > 0 ? (RETRY_AFTER[retryAfterSeconds] ??= String(retryAfterSeconds)) : null;
  respondLogged(ex, e.status, e.close, edge, text, null, kind, route, retryAfter);
}

/** respondLogged is respondGenerated for an answer that ends the request at the edge: it also writes the access log line. */
export function respondLogged(
  ex: ClientExchange,
  status: number,
  close: boolean,
  edge: EdgeSettings,
  text: string | null,
  extra: HeaderWriter | null,
  reason: ErrorKind | null,
  route: LoggedRoute,
  retryAfter: string | null = null,
): void {
  const log = edge.accessLog;
  if (log !== null) observeEdge(ex, route, log);
  respondGenerated(ex, status, close, edge.responses, text, extra, retryAfter);
  if (log !== null) observeEdgeAnswer(status, reason, ex.bytesWritten, log);
}

/** closeEdge closes the connection of a rejected request without an answer (access denyAction "close"), counted and logged as nginx's 444. */
export function closeEdge(ex: ClientExchange, kind: ErrorKind, edge: EdgeSettings, route: LoggedRoute = null): void {
  const e = ERRORS[kind];
  if (e.rejection !== null) countRejection(e.rejection);
  const log = edge.accessLog;
  if (log !== null) observeEdge(ex, route, log);
  ex.abort();
  if (log !== null) observeEdgeAnswer(STATUS_CLOSED, kind, 0, log);
}
