/**
 * Responses fulcrum writes itself at the edge (denied, too large, malformed): short, generic,
 * never reaching a server. Written synchronously inside the uWS handler (already corked).
 */
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from '../../uws.js';
import { responsePolicy } from './response-policy.js';
import { counter, type CounterChild } from '../metrics.js';

/** rejections by reason, for fulcrum_rejections_total (edge answers that never reach a server) */
const REASONS: Record<number, string> = { 400: 'parse', 403: 'deny', 408: 'timeout', 413: 'size', 414: 'size', 429: 'rate', 431: 'size' };
const rejections = new Map<string, CounterChild>();
function countRejection(status: number): void {
  const reason = REASONS[status];
  if (reason === undefined) return;
  let c = rejections.get(reason);
  if (c === undefined)
    rejections.set(reason, (c = counter('fulcrum_rejections_total', 'Requests rejected before any backend, by reason.', ['reason']).labels(reason)));
  c.inc();
}

const LINES: string[] = [];
const BODIES: string[] = [];
for (const [code, text] of Object.entries(STATUS_CODES)) {
  LINES[Number(code)] = `${code} ${text}`;
  BODIES[Number(code)] = `${code} ${text}\n`;
}

/** Something that adds its own headers to a response fulcrum writes (the cache's Cache-Status). */
export interface HeaderWriter {
  writeHeaders(res: HttpResponse): void;
}

/** respondEdge answers `status` with the configured page or a plain-text body; `close` ends the connection after it. */
export function respondEdge(res: HttpResponse, status: number, close: boolean, requestId?: string, text?: string, extra?: HeaderWriter | null): void {
  if (requestId === undefined) countRejection(status);
  const policy = responsePolicy();
  const page = policy.page(status);
  res.writeStatus(LINES[status] ?? String(status)).writeHeader('Content-Type', page !== undefined ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
  if (policy.serverHeader !== null) res.writeHeader('Server', policy.serverHeader);
  if (requestId !== undefined) res.writeHeader('X-Request-Id', requestId);
  if (extra) extra.writeHeaders(res);
  res.end(page ?? text ?? BODIES[status] ?? `${status}\n`, close);
}

const RETRY_AFTER: string[] = [];

/** respondTooMany answers 429 with Retry-After (seconds); the connection stays open. */
export function respondTooMany(res: HttpResponse, retryAfterSeconds: number): void {
  countRejection(429);
  const s = (RETRY_AFTER[retryAfterSeconds] ??= String(retryAfterSeconds));
  const policy = responsePolicy();
  const page = policy.page(429);
  res
    .writeStatus(LINES[429]!)
    .writeHeader('Retry-After', s)
    .writeHeader('Content-Type', page !== undefined ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
  if (policy.serverHeader !== null) res.writeHeader('Server', policy.serverHeader);
  res.end(page ?? BODIES[429]!);
}
