/**
 * The answers the engine writes itself, for requests that never reach the handler: a request the
 * parser refused (400, 405, 413, 414, 417, 431, 501, 505) or a head that timed out (408). Always
 * with Connection: close (nothing after such a request is parsed), a short text/plain body or the
 * configured error page, X-Request-Id (every response fulcrum writes carries one: request-id.ts),
 * counted in fulcrum_rejections_total by the reason of its kind in src/errors.ts (as the proxy
 * counts its own edge answers there), and told to the answer hook (the worker's access log, as
 * nginx logs the 400s it answers itself).
 */
import { ERRORS, type ErrorKind } from '../../errors.js';
import { counter, type CounterChild } from '../obs/metrics.js';
import { nextSeq, requestId } from '../obs/request-id.js';
import type { EngineOptions } from './engine-options.js';
import type { ClientPeer } from './exchange.js';
import { httpDate } from './http1-exchange.js';
import type { RequestParser } from './http1-parser.js';

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

/** The error kind (src/errors.ts) of each status the engine answers: its metric reason and log reason. */
const KINDS: Record<number, ErrorKind> = {
  400: 'malformed-request',
  405: 'connect-not-allowed',
  408: 'head-timeout',
  413: 'request-too-large',
  414: 'url-too-long',
  417: 'expectation-unsupported',
  431: 'head-too-large',
  501: 'coding-unsupported',
  505: 'version-unsupported',
};

const kindOf = (status: number): ErrorKind => KINDS[status] ?? 'malformed-request';

/** The connection an answer is for (Http1Connection), as the answer hook reads it. */
export interface AnsweredConnection {
  readonly peer: ClientPeer;
  /** holds the refused request's method, target and version when its request line was read (method '' when not) */
  readonly parser: RequestParser;
  readonly secure: boolean;
}

/**
 * EngineAnswerHook is told of every answer the engine writes itself, as it is written: its kind
 * and status, the sequence number of its X-Request-Id, the connection, and the body bytes sent
 * (as the access log counts bytesOut: nginx's $body_bytes_sent). One
 * hook per process (the worker's: dispatch.ts hands it to the access log).
 */
export type EngineAnswerHook = (kind: ErrorKind, status: number, seq: number, c: AnsweredConnection, bytes: number) => void;

let answerHook: EngineAnswerHook | null = null;

/** setEngineAnswerHook installs the hook told of the engine's own answers (null: none). */
export function setEngineAnswerHook(hook: EngineAnswerHook | null): void {
  answerHook = hook;
}

/**
 * errorAnswer builds the whole answer to the request `c` could not parse (one string, or the head
 * and a Buffer body: an error page) and tells the answer hook.
 */
export function errorAnswer(status: number, errorPage: EngineOptions['errorPage'], c: AnsweredConnection): string | [string, Buffer] {
  const page = errorPage?.(status);
  const text = TEXTS[status] ?? 'Error';
  const body = page?.body ?? `${status} ${text}\n`;
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const seq = nextSeq();
  const head =
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: ${page?.type ?? 'text/plain; charset=utf-8'}\r\n` +
    `content-length: ${length}\r\nconnection: close\r\nx-request-id: ${requestId(seq)}\r\ndate: ${httpDate()}\r\n\r\n`;
  if (answerHook !== null) answerHook(kindOf(status), status, seq, c, length);
  return typeof body === 'string' ? head + body : [head, body];
}

const rejections = new Map<number, CounterChild>();

/** countRejection counts one refused request under its kind's reason: parse, size, timeout, or unsupported (405, 417, 501, 505). */
export function countRejection(status: number): void {
  let c = rejections.get(status);
  if (c === undefined) {
    const reason = ERRORS[kindOf(status)].rejection ?? 'parse';
    rejections.set(status, (c = counter('fulcrum_rejections_total', 'Requests rejected before any backend, by reason.', ['reason']).labels(reason)));
  }
  c.inc();
}
