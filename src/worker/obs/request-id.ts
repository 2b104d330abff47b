/**
 * Request ids: "<worker prefix>-<sequence in base 36>". Every engine numbers its exchanges with
 * nextSeq (one sequence per worker, whatever engine serves the request), and every response
 * fulcrum writes itself carries the id in X-Request-Id, so that a client's report can be found in
 * the log. The prefix is random per worker process, so ids stay unique across workers and restarts.
 */
import { randomBytes } from 'node:crypto';

const PREFIX = randomBytes(4).toString('hex');
let seq = 0;

/** nextSeq numbers a new exchange. */
export function nextSeq(): number {
  return ++seq;
}

/** requestId formats an exchange's sequence number as its request id. */
export function requestId(n: number): string {
  return `${PREFIX}-${n.toString(36)}`;
}
