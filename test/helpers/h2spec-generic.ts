/**
 * h2spec's "generic" suite (github.com/summerwind/h2spec generic/*.go): what every HTTP/2 server
 * must accept (RFC 9113 sections 3-8 and RFC 7541 6, as h2spec cites RFC 7540): the preface, each
 * frame type in its ordinary use, requests, and each HPACK representation. Every case expects
 * an answer (a HEADERS frame, a PING ACK, a SETTINGS ACK) or, for GOAWAY, the close.
 */
import { Frame, frame, PREFACE, RawH2 } from './h2.js';
import { CANCEL, NO_ERROR, setting } from './h2-raw.js';
import { conn, group, type SpecCase, WAIT_MS } from './h2spec.js';

const IWS = 4; // SETTINGS_INITIAL_WINDOW_SIZE

/** a request on stream 1 whose block is the common fields with `rep` (raw HPACK octets) after them, or before with `first` */
const hpackCase = (desc: string, rep: number[], first = false) => ({
  desc,
  run: conn(async (c) => {
    const block = c.encode(c.common());
    c.headers(1, first ? Buffer.concat([Buffer.from(rep), block]) : Buffer.concat([block, Buffer.from(rep)]), { end: true });
    await c.headersFrame(1);
  }),
});
const bytes = (s: string) => [...Buffer.from(s, 'latin1')];

export const GENERIC: SpecCase[] = [
  ...group('generic/1', [
    {
      desc: 'Sends a client connection preface',
      run: async (x) => {
        const raw = await RawH2.open(x.port, false, false);
        try {
          raw.send(Buffer.concat([PREFACE, frame(Frame.Settings, 0, 0, setting(IWS, 65535))]));
          await raw.until(() => raw.frames.length > 0, WAIT_MS, 'the first frame');
          if (raw.frames[0]!.type !== Frame.Settings || raw.frames[0]!.flags !== 0) throw new Error('the first frame is not SETTINGS');
        } finally {
          raw.destroy();
        }
      },
    },
  ]),
  ...group('generic/2', [
    {
      desc: 'Sends a PRIORITY frame on idle stream',
      run: conn(async (c) => {
        c.priority(1, 0, 255);
        c.ping(false);
        await c.pingFrame(Buffer.alloc(8));
      }),
    },
    {
      desc: 'Sends a WINDOW_UPDATE frame on half-closed (remote) stream',
      run: conn(async (c) => {
        c.settingsFrame([IWS, 0]);
        c.headers(1, c.common(), { end: true });
        c.windowUpdate(1, 1);
        await c.dataFrame();
      }),
    },
    {
      desc: 'Sends a PRIORITY frame on half-closed (remote) stream',
      run: conn(async (c) => {
        c.settingsFrame([IWS, 0]);
        c.headers(1, c.common(), { end: true });
        c.priority(1, 0, 255);
        c.windowUpdate(1, 1);
        await c.dataFrame();
      }),
    },
    {
      desc: 'Sends a RST_STREAM frame on half-closed (remote) stream',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.rst(1, CANCEL);
        c.ping(false);
        await c.pingOrClose();
      }),
    },
    {
      desc: 'Sends a PRIORITY frame on closed stream',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        await c.streamClose();
        c.priority(1, 0, 255);
        c.ping(false);
        await c.pingFrame(Buffer.alloc(8));
      }),
    },
  ]),
  ...group('generic/3.1', [
    {
      desc: 'Sends a DATA frame',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.data(1, true, 'test');
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends multiple DATA frames',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.data(1, false, 'test');
        c.data(1, true, 'test');
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a DATA frame with padding',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.dataPadded(1, true, 'test', 'padded');
        await c.headersFrame(1);
      }),
    },
  ]),
  ...group('generic/3.2', [
    {
      desc: 'Sends a HEADERS frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a HEADERS frame with padding',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, pad: 8 });
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a HEADERS frame with priority',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, priority: { dep: 0, weight: 255 } });
        await c.headersFrame(1);
      }),
    },
  ]),
  ...group(
    'generic/3.3',
    (
      [
        ['Sends a PRIORITY frame with priority 1', 1, 0, 0, false],
        ['Sends a PRIORITY frame with priority 256', 1, 0, 255, false],
        ['Sends a PRIORITY frame with stream dependency', 3, 1, 0, false],
        ['Sends a PRIORITY frame with exclusive', 1, 0, 0, true],
        ['Sends a PRIORITY frame for an idle stream, then send a HEADER frame for a lower stream ID', 3, 0, 255, false],
      ] as const
    ).map(([desc, id, dep, weight, exclusive]) => ({
      desc,
      run: conn(async (c) => {
        c.priority(id, dep, weight, exclusive);
        c.headers(1, c.common(), { end: true });
        await c.headersFrame(1);
      }),
    })),
  ),
  ...group('generic/3.4', [
    {
      desc: 'Sends a RST_STREAM frame',
      run: conn(async (c) => {
        c.headers(1, c.common());
        c.rst(1, CANCEL);
        c.ping(false);
        await c.pingOrClose();
      }),
    },
  ]),
  ...group('generic/3.5', [
    {
      desc: 'Sends a SETTINGS frame',
      run: conn(async (c) => {
        c.settingsFrame([1, 4096], [2, 1], [3, 100], [IWS, 65535], [5, 16384], [6, 100]);
        await c.settingsAck();
      }),
    },
  ]),
  ...group('generic/3.7', [
    {
      desc: 'Sends a PING frame',
      run: conn(async (c) => {
        c.ping(false, 'h2spec');
        await c.pingFrame('h2spec');
      }),
    },
  ]),
  ...group('generic/3.8', [
    {
      desc: 'Sends a GOAWAY frame',
      run: conn(async (c) => {
        c.goaway(0, NO_ERROR, 'h2spec');
        await c.closed();
      }),
    },
  ]),
  ...group('generic/3.9', [
    {
      desc: 'Sends a WINDOW_UPDATE frame with stream ID 0',
      run: conn(async (c) => {
        c.windowUpdate(0, 1);
        c.ping(false);
        await c.pingFrame();
      }),
    },
    {
      desc: 'Sends a WINDOW_UPDATE frame with stream ID 1',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.windowUpdate(1, 1);
        await c.headersFrame(1);
      }),
    },
  ]),
  ...group('generic/3.10', [
    {
      desc: 'Sends a CONTINUATION frame',
      run: conn(async (c) => {
        const block = c.encode(c.common());
        c.headers(1, block.subarray(0, 5), { end: true, endHeaders: false });
        c.continuation(1, true, block.subarray(5));
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends multiple CONTINUATION frames',
      run: conn(async (c) => {
        const block = c.encode(c.common());
        c.headers(1, block.subarray(0, 5), { end: true, endHeaders: false });
        c.continuation(1, false, block.subarray(5, 10));
        c.continuation(1, true, block.subarray(10));
        await c.headersFrame(1);
      }),
    },
  ]),
  ...group('generic/4', [
    {
      desc: 'Sends a GET request',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a HEAD request',
      run: conn(async (c) => {
        c.headers(1, c.common('HEAD'), { end: true });
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a POST request',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.data(1, true, 'test');
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a POST request with trailers',
      run: conn(async (c) => {
        c.headers(1, [...c.common('POST'), ['trailer', 'x-test']]);
        c.data(1, false, 'test');
        c.headers(1, [['x-test', 'ok']], { end: true });
        await c.headersFrame(1);
      }),
    },
  ]),
  ...group('generic/5', [
    hpackCase('Sends a indexed header field representation', [0xba]),
    hpackCase('Sends a literal header field with incremental indexing - indexed name', bytes('\x40\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4')),
    hpackCase(
      'Sends a literal header field with incremental indexing - indexed name (with Huffman coding)',
      bytes('\x40\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63'),
    ),
    hpackCase('Sends a literal header field with incremental indexing - new name', bytes('\x40\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63')),
    hpackCase(
      'Sends a literal header field with incremental indexing - new name (with Huffman coding)',
      bytes('\x40\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4'),
    ),
    hpackCase(
      'Sends a literal header field without indexing - indexed name',
      bytes('\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63'),
    ),
    hpackCase(
      'Sends a literal header field without indexing - indexed name (with Huffman coding)',
      bytes('\x00\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4'),
    ),
    hpackCase('Sends a literal header field without indexing - new name', bytes('\x00\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63')),
    hpackCase('Sends a literal header field without indexing - new name (huffman encoded)', bytes('\x00\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4')),
    hpackCase(
      'Sends a literal header field never indexed - indexed name',
      bytes('\x10\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63'),
    ),
    hpackCase('Sends a literal header field never indexed - indexed name (huffman encoded)', bytes('\x10\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4')),
    hpackCase('Sends a literal header field never indexed - new name', bytes('\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4')),
    hpackCase('Sends a literal header field never indexed - new name (huffman encoded)', bytes('\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4')),
    hpackCase('Sends a dynamic table size update', [0x20], true),
    hpackCase('Sends multiple dynamic table size update', [0x20, 0x3f, 0xe1, 0x1f], true),
  ]),
];
