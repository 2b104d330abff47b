/**
 * What the proxy does with a failure, by kind (src/errors.ts holds the table): whether it may be
 * retried on another server, the answer the client gets, and the log line.
 *
 * Retries (nginx's proxy_next_upstream, RFC 9110 9.2.2): a connection that was never established
 * (nothing reached the server) may always be retried; a reset, an invalid response or a response
 * timeout before any response byte only for idempotent methods, or on a route with retryUnsafe;
 * and only for the classes upstreams.retryOn names.
 */
import { ERRORS, type ErrorKind } from '../../errors.js';
import { log } from '../../log.js';
import type { ClientExchange } from '../engine/exchange.js';
import { respondGenerated, type HeaderWriter } from '../guard/edge-response.js';
import type { ResponsePolicy } from '../guard/response-policy.js';
import { requestId } from '../obs/request-id.js';
import { STATUS_LINES } from '../../net/http-status.js';

/** isIdempotent: RFC 9110 9.2.2 (GET HEAD OPTIONS TRACE PUT DELETE) */
export function isIdempotent(m: string): boolean {
  return m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || m === 'PUT' || m === 'DELETE' || m === 'TRACE';
}

/** mayRetry tells whether a failure of `kind` before any response byte may be retried on another server. */
export function mayRetry(kind: ErrorKind, retryOn: readonly string[], idempotent: boolean, retryUnsafe: boolean): boolean {
  const cls = ERRORS[kind].retry;
  if (cls === null || !retryOn.includes(cls)) return false;
  return cls === 'connect-error' || idempotent || retryUnsafe;
}

/**
 * respondFailure answers the client with the kind's status and a short generic body that carries
 * the request id (plus what `extra` adds: the cache's Cache-Status, and Retry-After where the table says).
 */
export function respondFailure(ex: ClientExchange, kind: ErrorKind, policy: ResponsePolicy, extra: HeaderWriter | null): void {
  const e = ERRORS[kind];
  const line = STATUS_LINES[e.status] ?? `${e.status}`;
  respondGenerated(ex, e.status, e.close, policy, `${line}\nrequest id: ${requestId(ex.seq)}\n`, extra, e.retryAfter);
}

/** What a failure log line says about the request. */
export interface FailureContext {
  readonly seq: number;
  readonly route: { readonly name: string };
  readonly upstream: { readonly name: string };
  readonly server: { readonly id: string } | null;
}

/** logFailure logs a failed request (status 0: the response had started; the client saw a close). */
export function logFailure(r: FailureContext, status: number, reason: string): void {
  log.warn('upstream request failed', {
    requestId: requestId(r.seq),
    status: status || undefined,
    route: r.route.name,
    upstream: r.upstream.name,
    server: r.server?.id,
    reason,
  });
}
