/**
 * The answers the engine writes itself, for requests that never reach the handler: a request the
 * parser refused (400, 405, 413, 414, 417, 431, 501, 505) or a head that timed out (408). Always
 * with Connection: close (nothing after such a request is parsed), a short text/plain body or the
 * configured error page, and counted in fulcrum_rejections_total by reason (as the proxy counts
 * its own edge answers there).
 */
import { counter, type CounterChild } from '../obs/metrics.js';
import type { EngineOptions } from './engine-options.js';
import { httpDate } from './http1-exchange.js';

const TEXTS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
};

/** errorAnswer builds the whole answer: one string, or the head and a Buffer body (an error page). */
export function errorAnswer(status: number, errorPage: EngineOptions['errorPage']): string | [string, Buffer] {
  const page = errorPage?.(status);
  const text = TEXTS[status] ?? 'Error';
  const body = page?.body ?? `${status} ${text}\n`;
  const head =
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: ${page?.type ?? 'text/plain; charset=utf-8'}\r\n` +
    `content-length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}\r\nconnection: close\r\ndate: ${httpDate()}\r\n\r\n`;
  return typeof body === 'string' ? head + body : [head, body];
}

const REASONS: Record<number, string> = { 400: 'parse', 408: 'timeout', 413: 'size', 414: 'size', 431: 'size' };
const rejections = new Map<string, CounterChild>();

/** countRejection counts one refused request: parse, size, timeout, or unsupported (405, 417, 501, 505). */
export function countRejection(status: number): void {
  const reason = REASONS[status] ?? 'unsupported';
  let c = rejections.get(reason);
  if (c === undefined)
    rejections.set(reason, (c = counter('fulcrum_rejections_total', 'Requests rejected before any backend, by reason.', ['reason']).labels(reason)));
  c.inc();
}
