/**
 * HPACK (src/worker/h2/hpack.ts) against RFC 7541 Appendix C, byte for byte: the decoder's fields
 * and dynamic table after each example of C.2-C.6 (C.5 and C.6 with a 256-octet table, so entries
 * are evicted), Huffman strings, table size updates, the header list size limit, and input that
 * must be a decoding error (COMPRESSION_ERROR for the connection). The encoder: its output for
 * the examples it can produce (literals without indexing, indexed :status) and round trips.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Decoded, encodeField, encodeStatus, fieldBytesMax, HpackDecoder } from '../src/worker/h2/hpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer): { result: Decoded; fields: [string, string][] } {
  const fields: [string, string][] = [];
  const result = d.decode(block, 0, block.length, { field: (n, v) => fields.push([n, v]) });
  return { result, fields };
}

function table(d: HpackDecoder): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 1; d.entry(i) !== undefined; i++) out.push(d.entry(i)!);
  return out;
}

interface Example {
  id: string;
  input: string;
  output: [string, string][];
  table: [string, string][];
  size: number;
}

const req1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const req2: [string, string][] = [...req1, ['cache-control', 'no-cache']];
const req3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const t1: [string, string][] = [[':authority', 'www.example.com']];
const t2: [string, string][] = [['cache-control', 'no-cache'], ...t1];
const t3: [string, string][] = [['custom-key', 'custom-value'], ...t2];
const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const loc = 'https://www.example.com';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const res1: [string, string][] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', date1],
  ['location', loc],
];
const res2: [string, string][] = [[':status', '307'], ...res1.slice(1)];
const res3: [string, string][] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', date2],
  ['location', loc],
  ['content-encoding', 'gzip'],
  ['set-cookie', cookie],
];
const rt1: [string, string][] = [
  ['location', loc],
  ['date', date1],
  ['cache-control', 'private'],
  [':status', '302'],
];
const rt2: [string, string][] = [[':status', '307'], ...rt1.slice(0, 3)];
const rt3: [string, string][] = [
  ['set-cookie', cookie],
  ['content-encoding', 'gzip'],
  ['date', date2],
];

const C3: Example[] = [
  { id: 'C.3.1', input: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', output: req1, table: t1, size: 57 },
  { id: 'C.3.2', input: '8286 84be 5808 6e6f 2d63 6163 6865', output: req2, table: t2, size: 110 },
  { id: 'C.3.3', input: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', output: req3, table: t3, size: 164 },
];
const C4: Example[] = [
  { id: 'C.4.1', input: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', output: req1, table: t1, size: 57 },
  { id: 'C.4.2', input: '8286 84be 5886 a8eb 1064 9cbf', output: req2, table: t2, size: 110 },
  { id: 'C.4.3', input: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', output: req3, table: t3, size: 164 },
];
const C5: Example[] = [
  {
    id: 'C.5.1',
    input:
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    output: res1,
    table: rt1,
    size: 222,
  },
  { id: 'C.5.2', input: '4803 3330 37c1 c0bf', output: res2, table: rt2, size: 222 },
  {
    id: 'C.5.3',
    input:
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    output: res3,
    table: rt3,
    size: 215,
  },
];
const C6: Example[] = [
  {
    id: 'C.6.1',
    input: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    output: res1,
    table: rt1,
    size: 222,
  },
  { id: 'C.6.2', input: '4883 640e ffc1 c0bf', output: res2, table: rt2, size: 222 },
  {
    id: 'C.6.3',
    input:
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    output: res3,
    table: rt3,
    size: 215,
  },
];

function series(examples: Example[], limit: number): void {
  const d = new HpackDecoder(limit, 65536);
  for (const ex of examples) {
    const { result, fields } = decode(d, hex(ex.input));
    assert.equal(result, Decoded.Ok, ex.id);
    assert.deepEqual(fields, ex.output, ex.id);
    assert.deepEqual(table(d), ex.table, ex.id);
    assert.equal(d.tableSize, ex.size, ex.id);
  }
}

describe('HPACK decoder: RFC 7541 Appendix C', () => {
  it('C.2: one representation of each kind, each on a fresh context', () => {
    const cases: [string, [string, string][], [string, string][]][] = [
      ['400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', [['custom-key', 'custom-header']], [['custom-key', 'custom-header']]],
      ['040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], []],
      ['1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], []],
      ['82', [[':method', 'GET']], []],
    ];
    for (const [input, fields, tbl] of cases) {
      const d = new HpackDecoder(4096, 65536);
      const r = decode(d, hex(input));
      assert.equal(r.result, Decoded.Ok, input);
      assert.deepEqual(r.fields, fields);
      assert.deepEqual(table(d), tbl);
    }
  });

  it('C.3: requests without Huffman, one context', () => series(C3, 4096));
  it('C.4: requests with Huffman, one context', () => series(C4, 4096));
  it('C.5: responses without Huffman, a 256-octet table (evictions)', () => series(C5, 256));
  it('C.6: responses with Huffman, a 256-octet table (evictions)', () => series(C6, 256));
});

describe('HPACK decoder: Huffman, size updates, limits', () => {
  it('Huffman strings of every length class decode (Appendix B)', () => {
    const strings: [string, string][] = [
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
      ['9bd9 ab', 'gzip'],
    ];
    for (const [h, want] of strings) {
      const b = hex(h);
      // literal without indexing, new name "x", Huffman value
      const block = Buffer.concat([Buffer.from([0x00, 0x01, 0x78, 0x80 | b.length]), b]);
      const r = decode(new HpackDecoder(4096, 65536), block);
      assert.equal(r.result, Decoded.Ok, h);
      assert.deepEqual(r.fields, [['x', want]]);
    }
    // every octet value survives as a literal (the decoder hands out latin1 strings)
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const block = Buffer.concat([Buffer.from([0x00, 0x01, 0x78, 0x7f, 256 - 127 - 0, 0x01]), all]);
    const r = decode(new HpackDecoder(4096, 65536), block);
    assert.equal(r.result, Decoded.Ok);
    assert.equal(Buffer.from(r.fields[0]![1], 'latin1').compare(all), 0);
  });

  it('a size update at the start of a block shrinks the table; to 0 empties it; above our setting is an error', () => {
    const d = new HpackDecoder(4096, 65536);
    // the C.3 context, then shrink
    for (const ex of C3) decode(d, hex(ex.input));
    assert.equal(d.tableSize, 164);
    // 0x3f 0x50 = size update to 31 + 80 = 111: the oldest (:authority, 57) goes
    let r = decode(d, Buffer.from([0x3f, 0x50, 0x82]));
    assert.equal(r.result, Decoded.Ok);
    assert.deepEqual(table(d), [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
    ]);
    r = decode(d, Buffer.from([0x20]));
    assert.equal(r.result, Decoded.Ok);
    assert.equal(d.tableSize, 0);
    assert.deepEqual(table(d), []);
    // two updates in a row are allowed at the start (4.2): 0, then 4096
    assert.equal(decode(d, Buffer.from([0x20, 0x3f, 0xe1, 0x1f, 0x82])).result, Decoded.Ok);
    // 4097 > our 4096
    assert.equal(decode(new HpackDecoder(4096, 65536), Buffer.from([0x3f, 0xe2, 0x1f])).result, Decoded.Error);
    // after a field: not at the start of the block
    assert.equal(decode(new HpackDecoder(4096, 65536), Buffer.from([0x82, 0x20])).result, Decoded.Error);
  });

  it('an entry larger than the table empties it and is not added (4.4)', () => {
    const d = new HpackDecoder(64, 65536);
    assert.equal(decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).result, Decoded.Ok); // 55 octets: fits in 64
    assert.equal(d.tableSize, 55);
    const big = Buffer.concat([Buffer.from([0x40, 0x01, 0x78, 0x20]), Buffer.alloc(32, 0x61)]); // 1 + 32 + 32 = 65 > 64
    const r = decode(d, big);
    assert.equal(r.result, Decoded.Ok);
    assert.equal(r.fields[0]![1].length, 32);
    assert.equal(d.tableSize, 0);
    assert.deepEqual(table(d), []);
  });

  it('the dynamic table turns over many times (the ring) and keeps the newest', () => {
    const d = new HpackDecoder(256, 65536);
    for (let i = 0; i < 1000; i++) {
      const v = String(i).padStart(4, '0');
      const block = Buffer.concat([Buffer.from([0x40, 0x01, 0x6b, 0x04]), Buffer.from(v)]); // k: 0000.. (37 octets)
      assert.equal(decode(d, block).result, Decoded.Ok);
    }
    assert.equal(d.tableSize, 6 * 37);
    assert.deepEqual(d.entry(1), ['k', '0999']);
    assert.deepEqual(d.entry(6), ['k', '0994']);
    assert.equal(d.entry(7), undefined);
    // dynamic index 1 = 62
    assert.deepEqual(decode(d, Buffer.from([0x80 | 62])).fields, [['k', '0999']]);
  });

  it('a header list over the limit is decoded to its end (the table stays in step) but reported TooLarge', () => {
    const d = new HpackDecoder(4096, 100);
    // :method GET (42), then custom-key: custom-header (55, indexed into the table) = 97, then :path / (37) = 134 > 100
    const block = Buffer.concat([Buffer.from([0x82]), hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'), Buffer.from([0x84])]);
    const r = decode(d, block);
    assert.equal(r.result, Decoded.TooLarge);
    assert.deepEqual(r.fields, [
      [':method', 'GET'],
      ['custom-key', 'custom-header'],
    ]);
    assert.deepEqual(table(d), [['custom-key', 'custom-header']]);
    // the next block of the connection decodes against that table
    assert.deepEqual(decode(d, Buffer.from([0x80 | 62])).fields, [['custom-key', 'custom-header']]);
  });
});

describe('HPACK decoder: decoding errors (COMPRESSION_ERROR)', () => {
  const bad: [string, string][] = [
    ['index 0 (6.1)', '80'],
    ['an index past the dynamic table (2.3.3)', 'be'],
    ['a literal name index past the table', '7f 00 01 61'],
    ['an integer cut short', 'ff'],
    ['an integer over 2^28', 'ff ff ff ff ff 0f'],
    ['a string longer than the block', '00 05 61 62'],
    ['a block that ends between name and value', '00 01 61'],
    ['Huffman EOS in the string (5.2)', '00 01 78 84 ff ff ff ff'],
    ['Huffman padding longer than 7 bits', '00 01 78 87 a8 eb 10 64 9c bf ff'],
    ['Huffman padding of 0s instead of 1s', '00 01 78 81 00'],
  ];
  for (const [what, input] of bad) {
    it(what, () => {
      assert.equal(decode(new HpackDecoder(4096, 65536), hex(input)).result, Decoded.Error);
    });
  }
});

describe('HPACK encoder', () => {
  it(':status indexed when the static table has it, else a literal without indexing (name 8)', () => {
    const b = Buffer.alloc(16);
    assert.deepEqual(b.subarray(0, encodeStatus(b, 0, 200)), Buffer.from([0x88]));
    assert.deepEqual(b.subarray(0, encodeStatus(b, 0, 404)), Buffer.from([0x8d]));
    assert.deepEqual(b.subarray(0, encodeStatus(b, 0, 302)), hex('08 03 333032'));
  });

  it('fields as literals without indexing: RFC 7541 C.2.2 byte for byte, static names by index, long values', () => {
    const b = Buffer.alloc(512);
    assert.deepEqual(b.subarray(0, encodeField(b, 0, ':path', '/sample/path')), hex('040c 2f73 616d 706c 652f 7061 7468'));
    // content-length is static 28: 0x0f 0x0d (4-bit prefix, 15 + 13)
    assert.deepEqual(b.subarray(0, encodeField(b, 0, 'content-length', '5')), hex('0f0d 01 35'));
    // a new name
    assert.deepEqual(b.subarray(0, encodeField(b, 0, 'x-a', Buffer.from('b'))), hex('00 03 782d61 01 62'));
    // round trip through the decoder, with a value of 300 octets (a multi-octet length)
    const fields: [string, string | Buffer][] = [
      ['content-type', 'text/html'],
      ['x-long', 'v'.repeat(300)],
      ['set-cookie', Buffer.from('a=1')],
      ['www-authenticate', 'Basic'],
    ];
    let at = encodeStatus(b, 0, 500);
    for (const [n, v] of fields) {
      const before = at;
      at = encodeField(b, at, n, v);
      assert.ok(at - before <= fieldBytesMax(n.length, v.length), n);
    }
    const d = new HpackDecoder(4096, 65536);
    const r = decode(d, b.subarray(0, at));
    assert.equal(r.result, Decoded.Ok);
    assert.deepEqual(r.fields, [[':status', '500'], ...fields.map(([n, v]) => [n, String(v)])]);
    assert.equal(d.tableSize, 0); // nothing indexed
  });
});
