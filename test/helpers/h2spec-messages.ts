/**
 * h2spec's "http2" suite, sections 7 and 8 (github.com/summerwind/h2spec http2/7_*.go, 8_*.go:
 * error codes, HTTP request/response exchange, header fields, pseudo-header fields,
 * connection-specific fields, malformed requests, server push; RFC 9113 7, 8.1-8.4 now), and its
 * "hpack" suite (hpack/*.go, RFC 7541 2.3.3, 4.2, 5.2, 6.1, 6.3: decoding errors).
 */
import { COMPRESSION_ERROR, PROTOCOL_ERROR } from './h2-raw.js';
import { conn, type Fields, group, type SpecConn, type SpecCase } from './h2spec.js';

/** a request whose fields are malformed (RFC 9113 8.1.1): a stream error PROTOCOL_ERROR */
const malformed = (desc: string, fields: (c: SpecConn) => Fields) => ({
  desc,
  run: conn(async (c) => {
    c.headers(1, fields(c), { end: true });
    await c.streamError(PROTOCOL_ERROR);
  }),
});

/** a POST whose second HEADERS (after DATA without END_STREAM) carries `trailers` without END_STREAM */
const badTrailers = (desc: string, trailers: Fields) => ({
  desc,
  run: conn(async (c) => {
    c.headers(1, c.common('POST'));
    c.data(1, false, 'test');
    c.headers(1, trailers);
    await c.streamError(PROTOCOL_ERROR);
  }),
});

/** a header block with raw HPACK octets after (or before) the common fields: a decoding error (COMPRESSION_ERROR) */
const decodingError = (desc: string, rep: number[], first = false) => ({
  desc,
  run: conn(async (c) => {
    const block = c.encode(c.common());
    c.headers(1, first ? Buffer.concat([Buffer.from(rep), block]) : Buffer.concat([block, Buffer.from(rep)]), { end: true });
    await c.connectionError(COMPRESSION_ERROR);
  }),
});

export const MESSAGES: SpecCase[] = [
  ...group('http2/7', [
    {
      desc: 'Sends a GOAWAY frame with unknown error code',
      run: conn(async (c) => {
        c.goaway(0, 0xff);
        await c.closed();
      }),
    },
    {
      desc: 'Sends a RST_STREAM frame with unknown error code',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.rst(1, 0xff);
        c.ping(false);
        await c.pingFrame();
      }),
    },
  ]),
  ...group('http2/8.1', [badTrailers('Sends a second HEADERS frame without the END_STREAM flag', [['x-test', 'ok']])]),
  ...group('http2/8.1.2', [
    malformed('Sends a HEADERS frame that contains the header field name in uppercase letters', (c) => [...c.common(), ['X-TEST', 'ok']]),
  ]),
  ...group('http2/8.1.2.1', [
    malformed('Sends a HEADERS frame that contains a unknown pseudo-header field', (c) => [...c.common(), [':test', 'ok']]),
    malformed('Sends a HEADERS frame that contains the pseudo-header field defined for response', (c) => [...c.common(), [':status', '200']]),
    badTrailers('Sends a HEADERS frame that contains a pseudo-header field as trailers', [[':method', 'POST']]),
    malformed('Sends a HEADERS frame that contains a pseudo-header field that appears in a header block after a regular header field', (c) => [
      ['x-test', 'ok'],
      ...c.common(),
    ]),
  ]),
  ...group('http2/8.1.2.2', [
    malformed('Sends a HEADERS frame that contains the connection-specific header field', (c) => [...c.common(), ['connection', 'keep-alive']]),
    malformed('Sends a HEADERS frame that contains the TE header field with any value other than "trailers"', (c) => [
      ...c.common(),
      ['trailers', 'test'],
      ['te', 'trailers, deflate'],
    ]),
  ]),
  ...group('http2/8.1.2.3', [
    malformed('Sends a HEADERS frame with empty ":path" pseudo-header field', (c) => c.common().map(([n, v]): [string, string] => [n, n === ':path' ? '' : v])),
    // h2spec drops the first two fields here (headers[1:] of [:scheme, :path, :authority]): :path and :authority remain
    malformed('Sends a HEADERS frame that omits ":method" pseudo-header field', (c) => c.common().slice(2)),
    malformed('Sends a HEADERS frame that omits ":scheme" pseudo-header field', (c) => c.common().filter(([n]) => n !== ':scheme')),
    malformed('Sends a HEADERS frame that omits ":path" pseudo-header field', (c) => c.common().filter(([n]) => n !== ':path')),
    malformed('Sends a HEADERS frame with duplicated ":method" pseudo-header field', (c) => [...c.common(), [':method', 'GET']]),
    malformed('Sends a HEADERS frame with duplicated ":scheme" pseudo-header field', (c) => [...c.common(), [':scheme', 'http']]),
    malformed('Sends a HEADERS frame with duplicated ":method" pseudo-header field', (c) => [...c.common(), [':method', '/']]),
  ]),
  ...group('http2/8.1.2.6', [
    {
      desc: 'Sends a HEADERS frame with the "content-length" header field which does not equal the DATA frame payload length',
      run: conn(async (c) => {
        c.headers(1, [...c.common('POST'), ['content-length', '1']]);
        c.data(1, true, 'test');
        await c.streamError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a HEADERS frame with the "content-length" header field which does not equal the sum of the multiple DATA frames payload length',
      run: conn(async (c) => {
        c.headers(1, [...c.common('POST'), ['content-length', '1']]);
        c.data(1, false, 'test');
        c.data(1, true, 'test');
        await c.streamError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/8.2', [
    {
      desc: 'Sends a PUSH_PROMISE frame',
      run: conn(async (c) => {
        c.pushPromise(1, 3, c.common());
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('hpack/2.3.3', [decodingError('Sends a header field representation with invalid index', [0xfe])]),
  ...group('hpack/4.2', [decodingError('Sends a dynamic table size update at the end of header block', [0x21])]),
  ...group('hpack/5.2', [
    decodingError(
      'Sends a Huffman-encoded string literal representation with padding longer than 7 bits',
      [0x00, 0x85, 0xf2, 0xb2, 0x4a, 0x84, 0xff, 0x84, 0x49, 0x50, 0x9f, 0xff],
    ),
    decodingError('Sends a Huffman-encoded string literal representation padded by zero', [0x00, 0x85, 0xf2, 0xb2, 0x4a, 0x84, 0xff, 0x83, 0x49, 0x50, 0x90]),
    decodingError(
      'Sends a Huffman-encoded string literal representation containing the EOS symbol',
      [0x00, 0x85, 0xf2, 0xb2, 0x4a, 0x87, 0xff, 0xff, 0xff, 0xfd, 0x25, 0x42, 0x7f],
    ),
  ]),
  ...group('hpack/6.1', [decodingError('Sends a indexed header field representation with index 0', [0x80])]),
  // 4097 (one over SETTINGS_HEADER_TABLE_SIZE's 4096, which we never change) with a 5-bit prefix (RFC 7541 5.1)
  ...group('hpack/6.3', [decodingError('Sends a dynamic table size update larger than the value of SETTINGS_HEADER_TABLE_SIZE', [0x3f, 0xe2, 0x1f], true)]),
];
