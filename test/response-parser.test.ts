/**
 * The upstream response parser keeps header names exactly as the server sent them, whatever it
 * has seen before: names are reused from a small table of recent ones (response-parser.ts), and
 * that table must never hand back another name (other case, other length, a hash collision).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderKind, ResponseParser, type ResponseSink } from '../src/worker/upstream/response-parser.js';

function parse(head: string): ResponseParser {
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

describe('response parser: header names', () => {
  it('keeps every name byte for byte across responses, with its kind', () => {
    // 2,000 distinct names (more than the table holds: entries are replaced), in batches of 150,
    // each sent twice in a row and then in other cases
    const all: string[] = [];
    for (let i = 0; i < 2000; i++) all.push(`X-Field-${i.toString(36)}`);
    for (let b = 0; b < all.length; b += 150) {
      const batch = all.slice(b, b + 150);
      for (const variant of [batch, batch, batch.map((n) => n.toLowerCase()), batch.map((n) => n.toUpperCase())]) {
        const head = 'HTTP/1.1 200 OK\r\n' + variant.map((n, i) => `${n}: v${i}\r\n`).join('') + 'Content-Length: 0\r\n\r\n';
        const p = parse(head);
        for (let i = 0; i < variant.length; i++) {
          assert.equal(p.headers[2 * i], variant[i]);
          assert.equal(p.headers[2 * i + 1], `v${i}`);
          assert.equal(p.kinds[i], HeaderKind.Other);
        }
        assert.equal(p.headers[2 * variant.length], 'Content-Length');
        assert.equal(p.kinds[variant.length], HeaderKind.ContentLength);
      }
    }
  });

  it('classifies the special names in any case, and only those', () => {
    const cases: [string, HeaderKind][] = [
      ['Content-Length', HeaderKind.ContentLength],
      ['content-length', HeaderKind.ContentLength],
      ['Content-Lengths', HeaderKind.Other],
      ['Content-Lengt', HeaderKind.Other],
      ['DATE', HeaderKind.Date],
      ['Dates', HeaderKind.Other],
      ['Connection', HeaderKind.Connection],
      ['Keep-Alive', HeaderKind.KeepAlive],
      ['TE', HeaderKind.HopByHop],
      ['Trailer', HeaderKind.HopByHop],
      ['Upgrade', HeaderKind.HopByHop],
      ['Proxy-Connection', HeaderKind.HopByHop],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [name, kind] of cases) {
        const value = kind === HeaderKind.ContentLength ? '0' : kind === HeaderKind.Connection ? 'keep-alive' : 'x';
        const p = parse(`HTTP/1.1 200 OK\r\n${name}: ${value}\r\n${kind === HeaderKind.ContentLength ? '' : 'Content-Length: 0\r\n'}\r\n`);
        assert.equal(p.headers[0], name);
        assert.equal(p.kinds[0], kind, name);
      }
    }
  });
});
