/**
 * The answers the engine writes itself, for requests that never reach the handler: a request the
 * parser refused (400, 405, 413, 414, 417, 431, 501, 505) or a head that timed out (408). Always
 * with Connection: close (nothing after such a request is parsed), a short text/plain body or the
 * configured error page, and X-Request-Id (every response fulcrum writes carries one:
 * obs/request-id.ts). Each status is a kind of the error table (src/errors.ts), counted in
 * fulcrum_rejections_total by that kind's reason, as the dispatcher counts its own edge answers,
 * and told to the answer hook: the worker's access log (as nginx logs the 400s it answers itself).
 */
import { ERRORS, type ErrorKind } from '../../errors.js';
import { STATUS_LINES } from '../../net/http-status.js';
import { counter, type CounterChild } from '../obs/metrics.js';
import { nextSeq, requestId } from '../obs/request-id.js';
import type { EngineOptions } from './engine-options.js';
import type { ClientPeer } from './exchange.js';
import { httpDate } from './http1-exchange.js';
import type { RequestParser } from './http1-parser.js';

/** the error kind of each status the engine answers (src/errors.ts) */
const KINDS: Record<number, ErrorKind> = {
  400: 'malformed-request',
  405: 'method-not-allowed',
  408: 'head-timeout',
  413: 'request-too-large',
  414: 'url-too-long',
  417: 'expectation-failed',
  431: 'head-too-large',
  501: 'not-implemented',
  505: 'version-not-supported',
};

/** engineErrorKind names the error kind of an answer the engine wrote (400 for a status it does not know). */
function engineErrorKind(status: number): ErrorKind {
  return KINDS[status] ?? 'malformed-request';
}

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
 * (as the access log counts bytesOut: nginx's $body_bytes_sent). One hook per process (the
 * worker's: dispatch.ts hands it to the access log).
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
  const line = STATUS_LINES[status] ?? `${status} Error`;
  const body = page?.body ?? `${line}\n`;
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const seq = nextSeq();
  const head =
    `HTTP/1.1 ${line}\r\ncontent-type: ${page?.type ?? 'text/plain; charset=utf-8'}\r\n` +
    `content-length: ${length}\r\nconnection: close\r\nx-request-id: ${requestId(seq)}\r\ndate: ${httpDate()}\r\n\r\n`;
  if (answerHook !== null) answerHook(engineErrorKind(status), status, seq, c, length);
  return typeof body === 'string' ? head + body : [head, body];
}

const rejections = new Map<string, CounterChild>();

/** countRejection counts one refused request by its kind's reason: parse, size, timeout, or unsupported (405, 417, 501, 505). */
export function countRejection(status: number): void {
  const reason = ERRORS[engineErrorKind(status)].rejection ?? 'parse';
  let c = rejections.get(reason);
  if (c === undefined)
    rejections.set(reason, (c = counter('fulcrum_rejections_total', 'Requests rejected before any backend, by reason.', ['reason']).labels(reason)));
  c.inc();
}
