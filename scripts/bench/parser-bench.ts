/**
 * Micro-benchmark of the upstream response parser (src/worker/upstream/response-parser.ts): two
 * typical heads (the bench backend's three fields, and an application's ten) parsed a million
 * times each, in this process. For changes to the parser, run it on both sides of the change:
 *
 *   npm run build && node dist/scripts/bench/parser-bench.js [--count N]
 *
 * Nanoseconds per response on one core; compare runs on the same machine, back to back.
 */
import { ResponseParser, type ResponseSink } from '../../src/worker/upstream/response-parser.js';

const HEADS: Record<string, string> = {
  'bench backend, 3 fields': 'HTTP/1.1 200 OK\r\nDate: Tue, 24 Nov 2026 14:00:00 GMT\r\nuWebSockets: 20\r\nContent-Length: 100\r\n\r\n',
  'application, 10 fields':
    'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 100\r\nDate: Tue, 24 Nov 2026 14:00:00 GMT\r\n' +
    'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nCache-Control: no-cache\r\nX-Request-Id: 7f3a9c1e-2b44\r\nETag: W/"64-abc"\r\n' +
    'Vary: Accept-Encoding\r\nSet-Cookie: sid=abc; Path=/; HttpOnly\r\n\r\n',
};

const i = process.argv.indexOf('--count');
const count = i === -1 ? 1_000_000 : Number(process.argv[i + 1]);
const sink: ResponseSink = {
  onResponseHead: () => true,
  onResponseBody() {},
  onResponseEnd() {},
  onResponseError(reason) {
    throw new Error(reason);
  },
};
for (const [name, head] of Object.entries(HEADS)) {
  const buf = Buffer.from(head + 'x'.repeat(100), 'latin1');
  const p = new ResponseParser(sink);
  for (let k = 0; k < count / 10; k++) {
    p.reset(false);
    p.feed(buf, 0, buf.length);
  }
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < count; k++) {
    p.reset(false);
    p.feed(buf, 0, buf.length);
  }
  const ns = Number(process.hrtime.bigint() - t0) / count;
  console.log(`${name}: ${ns.toFixed(0)} ns per response head (+100 B body)`);
}
