/**
 * Every way fulcrum can fail a request, in one table (as undici's lib/core/errors.js): the HTTP
 * status the client gets, how it is counted, and what the log says. Call sites name a kind and
 * never choose a status themselves.
 *
 * Three groups, counted in three places:
 *   - edge rejections, answered before any route or server is involved, count in
 *     fulcrum_rejections_total{reason} (nginx's 4xx from its own limits);
 *   - upstream failures count per server in fulcrum_upstream_errors_total{kind} and mark the
 *     server for passive health; which of them may be retried on another server is `retry`
 *     (upstreams.retryOn names these classes);
 *   - request faults the proxy finds after routing (a head it will not forward, a body over the
 *     limit, a timeout) are logged with the request id and counted with the request's status only.
 * 502, 503 and 504 follow RFC 9110 15.6: 502 for a server that answered badly or not at all,
 * 503 when no server can take the request, 504 when a server did not answer in time.
 */

/** The retry classes of upstreams.retryOn. */
export type RetryClass = 'connect-error' | 'timeout' | 'error';

export interface ErrorSpec {
  /** the status the client gets (failures after the response started close the connection instead) */
  readonly status: number;
  /** fulcrum_rejections_total{reason} for edge rejections, else null */
  readonly rejection: 'parse' | 'deny' | 'timeout' | 'size' | 'rate' | 'connections' | 'unsupported' | null;
  /** counted in fulcrum_upstream_errors_total{kind} (the kind itself is the label) */
  readonly upstream: boolean;
  /** the retry class, for upstream failures that upstreams.retryOn may retry; null: never retried */
  readonly retry: RetryClass | null;
  /** the connection is closed after the answer (what follows on it cannot be trusted, or was not read) */
  readonly close: boolean;
  /** what the log says before the detail */
  readonly log: string;
  /** Retry-After (seconds) on the answer: the service is overloaded, not broken (RFC 9110 10.2.3); null: none */
  readonly retryAfter: string | null;
}

function spec(status: number, log: string, o: Partial<Pick<ErrorSpec, 'rejection' | 'upstream' | 'retry' | 'close' | 'retryAfter'>> = {}): ErrorSpec {
  return {
    status,
    log,
    rejection: o.rejection ?? null,
    upstream: o.upstream ?? false,
    retry: o.retry ?? null,
    close: o.close ?? false,
    retryAfter: o.retryAfter ?? null,
  };
}

export const ERRORS = {
  // ---- edge rejections (before routing; no server involved) --------------------------------
  'malformed-request': spec(400, 'malformed request', { rejection: 'parse', close: true }),
  'access-denied': spec(403, 'client address denied', { rejection: 'deny' }),
  'no-route': spec(404, 'no route for this host and path'),
  'head-timeout': spec(408, 'request head not complete in time', { rejection: 'timeout', close: true }),
  'request-too-large': spec(413, 'request body exceeds limits.maxBodyBytes', { rejection: 'size', close: true }),
  'url-too-long': spec(414, 'request target exceeds limits.maxUrlBytes', { rejection: 'size', close: true }),
  'rate-limited': spec(429, 'rate limit reached', { rejection: 'rate' }),
  // no answer: the connection is closed at once (logged as nginx's 444); 503 is what nginx's limit_conn would say
  'too-many-connections': spec(503, 'client over limits.maxConnectionsPerClient', { rejection: 'connections', close: true }),
  'head-too-large': spec(431, 'request header fields too large', { rejection: 'size', close: true }),
  // answered by fulcrum's HTTP/1.1 engine itself (engine/engine-answers.ts), besides the ones above
  'method-not-allowed': spec(405, 'CONNECT is not proxied', { rejection: 'unsupported', close: true }),
  'expectation-failed': spec(417, 'Expect other than 100-continue', { rejection: 'unsupported', close: true }),
  'not-implemented': spec(501, 'transfer coding other than chunked', { rejection: 'unsupported', close: true }),
  'version-not-supported': spec(505, 'HTTP version other than 1.0 and 1.1', { rejection: 'unsupported', close: true }),

  // ---- request faults found by the proxy (after routing) ------------------------------------
  'invalid-head': spec(400, 'request cannot be forwarded safely', { close: true }),
  'too-many-fields': spec(431, 'request header fields over limits.maxHeaders or limits.maxHeaderBytes', { close: true }),
  'body-too-large': spec(413, 'request body exceeds limits.maxBodyBytes', { close: true }),
  'body-idle': spec(408, 'request body stalled (timeouts.bodyIdleMs)', { close: true }),
  'request-timeout': spec(504, 'request took longer than timeouts.requestMs', { close: true }),

  // ---- upstream failures ---------------------------------------------------------------------
  'connect-refused': spec(502, 'cannot connect to the server', { upstream: true, retry: 'connect-error' }),
  'connect-timeout': spec(504, 'no connection to the server in time', { upstream: true, retry: 'connect-error' }),
  'reset-before-response': spec(502, 'server closed the connection before responding', { upstream: true, retry: 'error' }),
  'response-timeout': spec(504, 'server did not answer in time', { upstream: true, retry: 'timeout' }),
  truncated: spec(502, 'server closed the connection mid-response', { upstream: true, retry: 'error' }),
  'invalid-response': spec(502, 'server sent an invalid response', { upstream: true, retry: 'error' }),
  'pool-timeout': spec(503, 'no upstream connection free in time', { upstream: true }),

  // ---- the response cache ---------------------------------------------------------------------
  'only-if-cached': spec(504, 'not in cache (only-if-cached)'),

  // ---- WebSocket handshakes (RFC 6455 4.2) -------------------------------------------------------
  'upgrade-required': spec(426, 'unsupported Sec-WebSocket-Version'),
  'invalid-handshake': spec(400, 'invalid WebSocket handshake'),
  'handshake-failed': spec(502, 'upstream WebSocket handshake failed'),
  'handshake-timeout': spec(504, 'upstream WebSocket handshake timed out'),

  // ---- no server for the request ---------------------------------------------------------------
  'no-server': spec(503, 'no server available'),
  'queue-full': spec(503, 'every server at its limit (maxConnections or adaptive concurrency) and the queue is full', { retryAfter: '1' }),
  'queue-timeout': spec(503, 'no server below its limit within queueTimeoutMs', { retryAfter: '1' }),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorKind = keyof typeof ERRORS;

/** The upstream failure kinds a connection reports (UpstreamConnection). */
export type FailureKind = 'connect-refused' | 'connect-timeout' | 'reset-before-response' | 'response-timeout' | 'truncated' | 'invalid-response';

/** UPSTREAM_ERROR_KINDS lists the kinds of fulcrum_upstream_errors_total, in table order. */
export const UPSTREAM_ERROR_KINDS: readonly ErrorKind[] = (Object.keys(ERRORS) as ErrorKind[]).filter((k) => ERRORS[k].upstream);

/** upstreamErrorIndex returns a kind's slot in UPSTREAM_ERROR_KINDS (-1 when not an upstream failure). */
export function upstreamErrorIndex(kind: ErrorKind): number {
  return UPSTREAM_ERROR_KINDS.indexOf(kind);
}
