/**
 * The error table (src/errors.ts) and the proxy's use of it (src/worker/proxy/failure.ts): which
 * status each failure answers, how it is counted, whether the connection closes after it, and
 * which failures may be retried on another server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS, UPSTREAM_ERROR_KINDS, upstreamErrorIndex, type ErrorKind } from '../src/errors.js';
import { isIdempotent, mayRetry } from '../src/worker/proxy/failure.js';

// [kind, status, fulcrum_rejections_total reason, upstream metric, close]
const TABLE: [ErrorKind, number, string | null, boolean, boolean][] = [
  ['malformed-request', 400, 'parse', false, true],
  ['access-denied', 403, 'deny', false, false],
  ['no-route', 404, null, false, false],
  ['head-timeout', 408, 'timeout', false, true],
  ['request-too-large', 413, 'size', false, true],
  ['url-too-long', 414, 'size', false, true],
  ['rate-limited', 429, 'rate', false, false],
  ['too-many-connections', 503, 'connections', false, true],
  ['head-too-large', 431, 'size', false, true],
  ['method-not-allowed', 405, 'unsupported', false, true],
  ['expectation-failed', 417, 'unsupported', false, true],
  ['not-implemented', 501, 'unsupported', false, true],
  ['version-not-supported', 505, 'unsupported', false, true],
  ['invalid-head', 400, null, false, true],
  ['too-many-fields', 431, null, false, true],
  ['body-too-large', 413, null, false, true],
  ['body-idle', 408, null, false, true],
  ['request-timeout', 504, null, false, true],
  ['only-if-cached', 504, null, false, false],
  ['upgrade-required', 426, null, false, false],
  ['invalid-handshake', 400, null, false, false],
  ['handshake-failed', 502, null, false, false],
  ['handshake-timeout', 504, null, false, false],
  ['connect-refused', 502, null, true, false],
  ['connect-timeout', 504, null, true, false],
  ['reset-before-response', 502, null, true, false],
  ['response-timeout', 504, null, true, false],
  ['truncated', 502, null, true, false],
  ['invalid-response', 502, null, true, false],
  ['pool-timeout', 503, null, true, false],
  ['no-server', 503, null, false, false],
  ['queue-full', 503, null, false, false],
  ['queue-timeout', 503, null, false, false],
];

describe('error table', () => {
  it('lists every kind once, with its status, counter and connection handling', () => {
    assert.deepEqual(Object.keys(ERRORS).sort(), TABLE.map((r) => r[0]).sort());
    for (const [kind, status, rejection, upstream, close] of TABLE) {
      const e = ERRORS[kind];
      assert.deepEqual([kind, e.status, e.rejection, e.upstream, e.close], [kind, status, rejection, upstream, close]);
      assert.ok(e.log.length > 0);
    }
  });

  it('counts upstream failures under their own names, in a stable order', () => {
    assert.deepEqual(UPSTREAM_ERROR_KINDS, [
      'connect-refused',
      'connect-timeout',
      'reset-before-response',
      'response-timeout',
      'truncated',
      'invalid-response',
      'pool-timeout',
    ]);
    assert.equal(upstreamErrorIndex('pool-timeout'), 6);
    assert.equal(upstreamErrorIndex('no-server'), -1);
  });

  it('retries what nothing reached, and the rest only when it is safe', () => {
    const all = ['connect-error', 'timeout', 'error'];
    // [kind, idempotent, retryUnsafe, retried]
    const cases: [ErrorKind, boolean, boolean, boolean][] = [
      ['connect-refused', false, false, true],
      ['connect-timeout', false, false, true],
      ['reset-before-response', true, false, true],
      ['reset-before-response', false, false, false],
      ['reset-before-response', false, true, true],
      ['response-timeout', true, false, true],
      ['response-timeout', false, false, false],
      ['invalid-response', true, false, true],
      ['pool-timeout', true, false, false],
      ['no-server', true, true, false],
    ];
    for (const [kind, idem, unsafe, want] of cases) assert.equal(mayRetry(kind, all, idem, unsafe), want, `${kind} idempotent=${idem} retryUnsafe=${unsafe}`);
    // retryOn names the classes that may be retried
    assert.equal(mayRetry('connect-refused', ['timeout'], true, false), false);
    assert.equal(mayRetry('response-timeout', ['timeout'], true, false), true);
    assert.equal(mayRetry('reset-before-response', ['connect-error', 'timeout'], true, false), false);
  });

  it('knows the idempotent methods (RFC 9110 9.2.2)', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) assert.equal(isIdempotent(m), true, m);
    for (const m of ['POST', 'PATCH', 'CONNECT', 'get', 'PROPFIND']) assert.equal(isIdempotent(m), false, m);
  });
});
