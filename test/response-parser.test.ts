/**
 * The upstream response parser keeps header names exactly as the server sent them, whatever it
 * has seen before: names are reused from a small table of recent ones (response-parser.ts), and
 * that table must never hand back another name (other case, other length, a hash collision).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderKind, ResponseParser } from '../src/worker/upstream/response-parser.js';
import { parseHead } from './helpers/response-head.js';

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
        const p = parseHead(head);
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
        const p = parseHead(`HTTP/1.1 200 OK\r\n${name}: ${value}\r\n${kind === HeaderKind.ContentLength ? '' : 'Content-Length: 0\r\n'}\r\n`);
        assert.equal(p.headers[0], name);
        assert.equal(p.kinds[0], kind, name);
      }
    }
  });
});

describe('response parser: 101 Switching Protocols (a tunnel, proxy/tunnel.ts)', () => {
  const HEAD =
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
  const FRAME = '\x81\x05hello';

  function feedIn(pieces: string[], upgrade: boolean): { p: ResponseParser; heads: number; tail: string; error: string } {
    const out = { heads: 0, tail: '', error: '' };
    const p = new ResponseParser({
      onResponseHead: () => {
        out.heads++;
        return false;
      },
      onResponseBody() {},
      onResponseEnd() {},
      onResponseError: (reason) => (out.error = reason),
    });
    p.reset(false);
    p.upgrade = upgrade;
    for (const s of pieces) {
      const b = Buffer.from(s, 'latin1');
      p.feed(b, 0, b.length);
      if (out.heads === 1 && p.switchedAt >= 0 && !out.tail) out.tail = b.toString('latin1', p.switchedAt);
    }
    return { p, ...out };
  }

  it("hands over at the end of the 101 head, in one read or split anywhere, after a 100; the bytes after it are the tunnel's", () => {
    const whole = HEAD + FRAME;
    for (let cut = 1; cut < whole.length; cut += 7) {
      const r = feedIn([whole.slice(0, cut), whole.slice(cut)], true);
      assert.equal(r.heads, 1, `cut at ${cut}`);
      assert.equal(r.p.statusCode, 101);
      assert.equal(r.error, '');
      if (cut < HEAD.length) assert.equal(r.tail, FRAME, `cut at ${cut}: the frame after the head`);
    }
    const r = feedIn([whole, '\x81\x02hi'], true);
    assert.equal(r.tail, FRAME);
    assert.equal(r.p.headers.length, 6, 'the fields of the 101, not the 100');
  });

  it('refuses a 101 to a request that asked for no upgrade', () => {
    const r = feedIn([HEAD], false);
    assert.equal(r.heads, 0);
    assert.equal(r.error, 'unexpected 101 Switching Protocols');
  });
});
