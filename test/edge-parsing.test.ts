/**
 * Strict, desync-proof parsing through the whole proxy: a corpus of raw requests, each with the
 * outcome a client sees on each engine, and the guarantee that no server saw a request it could
 * read differently from fulcrum.
 *
 * On fulcrum's engine (the default) every malformed request gets its 4xx/5xx at once and the
 * connection closes (`fulcrum`, default 400 where uWS drops the request). On the uWS engine
 * (FULCRUM_TEST_ENGINE=uws) the outcomes are uWS 20.30's: a status, "refused" (dropped without a
 * response, closed at the latest at uWS's built-in 10 s idle timeout, up to 16 s with its 4 s
 * timer granularity), or "closed" (closed at once, nothing sent). See README "Strict parsing".
 * The engine's own corpus, case by case on an in-process engine, is test/http1-parser.test.ts.
 *
 * All cases run concurrently against one fulcrum; each carries a marker in its path so the
 * origin's log tells which ones reached it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, type Origin } from './helpers/origin.js';
import { oneUpstream, startFulcrum, type Fulcrum } from './helpers/fulcrum.js';
import { rawExchange, statusOf } from './helpers/raw.js';

type Outcome = number | 'refused' | 'closed';
interface Case {
  name: string;
  /** the request; `@` is replaced by the case's marker path */
  raw: string;
  /** on the uWS engine */
  expect: Outcome;
  /** on fulcrum's engine (default: `expect` where it is a status, else 400) */
  fulcrum?: number;
  /** forwarded on fulcrum's engine (default: `forwarded`) */
  fulcrumForwarded?: boolean;
  /** on fulcrum's engine the status is the origin's own answer, relayed (the connection to the client stays open) */
  relayed?: boolean;
  /** the request reaches the origin (the head re-serialised), e.g. tolerated variants */
  forwarded?: boolean;
  /** the first request may or may not reach the origin before uWS closes (races); the second never does */
  mayForward?: boolean;
}

const H = 'Host: example.test\r\n';
const CASES: Case[] = [
  // control
  { name: 'a plain GET is forwarded', raw: `GET @ HTTP/1.1\r\n${H}\r\n`, expect: 200, forwarded: true },
  // framing: Content-Length / Transfer-Encoding
  {
    name: 'Content-Length and Transfer-Encoding together (CL.TE)',
    raw: `POST @ HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    expect: 'closed',
  },
  {
    name: 'Transfer-Encoding then Content-Length (TE.CL)',
    raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`,
    expect: 'closed',
  },
  { name: 'two differing Content-Length fields', raw: `POST @ HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, expect: 400 },
  { name: 'two equal Content-Length fields', raw: `POST @ HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, expect: 400 },
  { name: 'Content-Length list "3, 3"', raw: `POST @ HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, expect: 'closed' },
  { name: 'Content-Length with a sign', raw: `POST @ HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, expect: 'closed' },
  { name: 'negative Content-Length', raw: `POST @ HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, expect: 'closed' },
  { name: 'hexadecimal Content-Length', raw: `POST @ HTTP/1.1\r\n${H}Content-Length: 0x3\r\n\r\nabc`, expect: 'closed' },
  { name: 'Transfer-Encoding gzip, chunked', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, expect: 400, fulcrum: 501 },
  { name: 'Transfer-Encoding chunked, gzip (chunked not final)', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, expect: 400 },
  { name: 'Transfer-Encoding identity', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, expect: 400 },
  { name: 'Transfer-Encoding xchunked', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, expect: 400 },
  {
    name: 'two Transfer-Encoding: chunked fields',
    raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    expect: 400,
  },
  { name: 'Transfer-Encoding with a vertical tab', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`, expect: 'refused' },
  {
    name: 'Transfer-Encoding: CHUNKED (case-insensitive, re-framed)',
    raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    expect: 200,
    forwarded: true,
  },
  // chunk framing
  { name: 'invalid chunk size', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, expect: 'closed' },
  {
    name: 'chunk size overflowing 64 bits',
    raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nabc\r\n0\r\n\r\n`,
    expect: 'closed',
    // a size past limits.maxBodyBytes, on fulcrum's engine
    fulcrum: 413,
  },
  {
    name: 'chunk extension (refused by uWS 20.30)',
    raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n`,
    expect: 'closed',
    fulcrum: 200,
    fulcrumForwarded: true,
  },
  // header syntax
  { name: 'obs-fold (continuation line with a space)', raw: `GET @ HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, expect: 'refused' },
  { name: 'obs-fold with a tab', raw: `GET @ HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n`, expect: 'refused' },
  { name: 'whitespace before the colon', raw: `GET @ HTTP/1.1\r\n${H}X-A : a\r\n\r\n`, expect: 'refused' },
  { name: 'whitespace before the colon of Transfer-Encoding', raw: `POST @ HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'NUL in a value', raw: `GET @ HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, expect: 'refused' },
  { name: 'bare CR in a value', raw: `GET @ HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, expect: 'refused' },
  { name: 'DEL in a value', raw: `GET @ HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, expect: 400 },
  { name: 'bare LF line ends', raw: `GET @ HTTP/1.1\n${H.trim()}\nX-A: a\n\n`, expect: 'refused' },
  { name: 'one bare LF among CRLFs', raw: `GET @ HTTP/1.1\r\n${H}X-A: a\nX-B: b\r\n\r\n`, expect: 'refused' },
  { name: 'invalid character in a field name', raw: `GET @ HTTP/1.1\r\n${H}X@A: v\r\n\r\n`, expect: 'refused' },
  { name: 'header line without a colon', raw: `GET @ HTTP/1.1\r\n${H}XA\r\n\r\n`, expect: 'refused' },
  // Host
  { name: 'HTTP/1.1 without Host', raw: `GET @ HTTP/1.1\r\n\r\n`, expect: 'refused' },
  { name: 'two Host fields', raw: `GET @ HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, expect: 400 },
  { name: 'empty Host', raw: `GET @ HTTP/1.1\r\nHost:\r\n\r\n`, expect: 400 },
  { name: 'Host with a space', raw: `GET @ HTTP/1.1\r\nHost: a b\r\n\r\n`, expect: 400 },
  { name: 'Host with a path', raw: `GET @ HTTP/1.1\r\nHost: a.test/x\r\n\r\n`, expect: 400 },
  // request line
  { name: 'HTTP/1.2', raw: `GET @ HTTP/1.2\r\n${H}\r\n`, expect: 'refused', fulcrum: 505 },
  { name: 'HTTP/0.9 request line', raw: `GET @\r\n\r\n`, expect: 'refused' },
  { name: 'unknown method', raw: `FOO @ HTTP/1.1\r\n${H}\r\n`, expect: 'closed', fulcrum: 400, relayed: true },
  { name: 'lower-case method', raw: `get @ HTTP/1.1\r\n${H}\r\n`, expect: 'closed', fulcrum: 400, relayed: true },
  { name: 'absolute-form target', raw: `GET http://example.test@ HTTP/1.1\r\n${H}\r\n`, expect: 'refused', fulcrum: 200, fulcrumForwarded: true },
  { name: 'space inside the target', raw: `GET @/a b HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'control character in the target', raw: `GET @/a\x01b HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'DEL in the target', raw: `GET @/a\x7fb HTTP/1.1\r\n${H}\r\n`, expect: 400 },
  { name: 'fragment in the target', raw: `GET @#frag HTTP/1.1\r\n${H}\r\n`, expect: 400 },
  { name: 'leading empty line', raw: `\r\nGET @ HTTP/1.1\r\n${H}\r\n`, expect: 'refused', fulcrum: 200, fulcrumForwarded: true },
  // smuggling a second request behind the first
  {
    name: 'a second request pipelined behind a POST (uWS: never forwarded; fulcrum: answered in order)',
    raw: `POST @ HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\nGET @/smuggled HTTP/1.1\r\n${H}\r\n`,
    expect: 'closed',
    fulcrum: 200,
    fulcrumForwarded: true,
    mayForward: true,
  },
];

const REFUSED_WITHIN_MS = 20_000;

const UWS = process.env.FULCRUM_TEST_ENGINE === 'uws';
/** what a client sees on the engine under test */
const outcome = (c: Case): Outcome => (UWS ? c.expect : (c.fulcrum ?? (typeof c.expect === 'number' ? c.expect : 400)));
const forwarded = (c: Case): boolean => (UWS ? c.forwarded === true : (c.fulcrumForwarded ?? c.forwarded === true));

describe('strict parsing: raw-socket corpus', () => {
  let a: Origin;
  let f: Fulcrum;
  const results = new Map<string, { data: Buffer; closed: boolean }>();
  before(async () => {
    a = await createOrigin('a');
    f = await startFulcrum(oneUpstream([a.url]));
    await Promise.all(
      CASES.map(async (c, i) => {
        const raw = Buffer.from(c.raw.replaceAll('@', `/case${i}`), 'latin1');
        const waitMs = outcome(c) === 'refused' ? REFUSED_WITHIN_MS : 5000;
        // 200: read until the response is complete; rejections: until the close
        const until =
          outcome(c) === 200
            ? (got: Buffer) => /\r\n\r\n[\s\S]*\n$/.test(got.toString('latin1')) && !got.toString('latin1').startsWith('HTTP/1.1 100')
            : undefined;
        results.set(c.name, await rawExchange(f.port, raw, { timeoutMs: waitMs, until }));
      }),
    );
  });
  after(async () => {
    await f.stop();
    await a.close();
  });

  it('has at least 25 cases', () => assert.ok(CASES.length >= 25));

  CASES.forEach((c, i) => {
    it(`${c.name}: ${outcome(c)}`, () => {
      const r = results.get(c.name)!;
      const marker = `/case${i}`;
      const seen = a.requests.filter((q) => q.url === marker || q.url!.startsWith(marker + '/') || q.url!.startsWith(marker + '?'));
      const want = outcome(c);
      if (want === 'refused' || want === 'closed') {
        assert.equal(r.data.length, 0, `no response expected, got ${JSON.stringify(r.data.toString('latin1').slice(0, 80))}`);
        assert.ok(r.closed, 'the connection is closed');
      } else {
        assert.equal(statusOf(r.data), want, r.data.toString('latin1').slice(0, 200));
      }
      // on uWS the second request must never reach a server; on fulcrum's engine it is a pipelined request like any other
      if (c.mayForward && UWS) {
        assert.ok(seen.every((q) => !q.url!.includes('smuggled')));
      } else if (forwarded(c)) {
        assert.ok(seen.length >= 1, 'forwarded');
        for (const q of seen) {
          // the head the server got was rebuilt by fulcrum: framing is its own
          assert.ok(!(q.headers['content-length'] && q.headers['transfer-encoding']));
        }
      } else if (c.relayed && !UWS) {
        // forwarded as any token method is; node's http origin (llhttp) refuses methods outside its
        // own list with a 400 of its own, which fulcrum relays: no "request" event on the origin
        assert.doesNotMatch(r.data.toString('latin1'), /request id/i, "the 400 is the origin's, not fulcrum's");
      } else {
        assert.equal(seen.length, 0, `the origin saw ${seen.map((q) => q.url).join(', ')}`);
      }
    });
  });

  it('answers every 400/431/414 with a close', () => {
    for (const c of CASES) {
      const want = outcome(c);
      if (typeof want === 'number' && want >= 400 && !(c.relayed && !UWS)) assert.ok(results.get(c.name)!.closed, c.name);
    }
  });

  it('re-frames a tolerated chunked body: the server gets the exact bytes', () => {
    const i = CASES.findIndex((c) => c.name.startsWith('Transfer-Encoding: CHUNKED'));
    const q = a.requests.find((x) => x.url === `/case${i}`)!;
    assert.equal(q.headers['transfer-encoding'], 'chunked');
    const body = JSON.parse(results.get(CASES[i]!.name)!.data.toString('latin1').split('\r\n\r\n')[1]!);
    assert.equal(body.body, 'abc');
  });
});
