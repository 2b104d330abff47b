/**
 * parseHead runs a raw HTTP/1.1 response head through the upstream parser
 * (src/worker/upstream/response-parser.ts), as the proxy does, for tests that look at what it
 * makes of the fields.
 */
import assert from 'node:assert/strict';
import { ResponseParser, type ResponseSink } from '../../src/worker/upstream/response-parser.js';

/** parseHead parses `head` (latin1, ending with CRLFCRLF) as the response to a GET; a refused head throws its reason. */
export function parseHead(head: string): ResponseParser {
  let got: ResponseParser | null = null;
  const sink: ResponseSink = {
    onResponseHead: (p) => {
      got = p;
      return true;
    },
    onResponseBody() {},
    onResponseEnd() {},
    onResponseError(reason) {
      throw new Error(reason);
    },
  };
  const p = new ResponseParser(sink);
  p.reset(false);
  const buf = Buffer.from(head, 'latin1');
  p.feed(buf, 0, buf.length);
  assert.ok(got, 'head parsed');
  return got;
}
