/**
 * h2spec's "http2" suite, sections 3 to 5 (github.com/summerwind/h2spec http2/3_5*.go to
 * 5_5*.go, citing RFC 7540; the same rules are in RFC 9113): the connection preface (3.5),
 * frame format, size and header blocks (4.1-4.3), stream states and identifiers (5.1, 5.1.1),
 * concurrency (5.1.2), stream dependencies (5.3.1), connection errors (5.4.1) and extensions (5.5).
 */
import { RawH2 } from './h2.js';
import { CANCEL, COMPRESSION_ERROR, FRAME_SIZE_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, STREAM_CLOSED } from './h2-raw.js';
import { conn, group, type SpecCase, WAIT_MS } from './h2spec.js';

const raw = (s: string) => Buffer.from(s, 'latin1');
/** an extension frame of type 0x16 (unknown), 8 octets on stream 0 */
const UNKNOWN_FRAME = raw('\x00\x00\x08\x16\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00');
const IWS = 4;

export const STREAMS: SpecCase[] = [
  ...group('http2/3.5', [
    {
      desc: 'Sends client connection preface',
      run: async (x) => {
        const c = await RawH2.open(x.port, false, false);
        try {
          c.send(Buffer.concat([raw('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), raw('\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x00\x00\xff\xff')]));
          await c.until(() => c.frames.some((f) => f.type === 4 && f.flags === 0), WAIT_MS, 'SETTINGS');
        } finally {
          c.destroy();
        }
      },
    },
    {
      desc: 'Sends invalid connection preface',
      run: async (x) => {
        const c = await RawH2.open(x.port, false, false);
        try {
          c.send(raw('INVALID CONNECTION PREFACE\r\n\r\n'));
          await c.until(() => c.closed, WAIT_MS, 'the close');
        } finally {
          c.destroy();
        }
      },
    },
  ]),
  ...group('http2/4.1', [
    {
      desc: 'Sends a frame with unknown type',
      run: conn(async (c) => {
        c.send(UNKNOWN_FRAME);
        c.ping(false);
        await c.pingFrame();
      }),
    },
    {
      desc: 'Sends a frame with undefined flag',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x08\x06\x16\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'));
        await c.pingFrame();
      }),
    },
    {
      desc: 'Sends a frame with reserved field bit',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x08\x06\x16\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'));
        await c.pingFrame();
      }),
    },
  ]),
  ...group('http2/4.2', [
    {
      desc: 'Sends a DATA frame with 2^14 octets in length',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.data(1, true, 'x'.repeat(16384));
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a large size DATA frame that exceeds the SETTINGS_MAX_FRAME_SIZE',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'));
        c.data(1, true, 'x'.repeat(16385));
        await c.streamError(FRAME_SIZE_ERROR);
      }),
    },
    {
      desc: 'Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE',
      run: conn(async (c) => {
        c.headers(1, [...c.common(), ...c.dummy(5)], { end: true });
        await c.connectionError(FRAME_SIZE_ERROR);
      }),
    },
  ]),
  ...group('http2/4.3', [
    {
      desc: 'Sends invalid header block fragment',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x01\x01\x05\x00\x00\x00\x01\x40'));
        await c.connectionError(COMPRESSION_ERROR);
      }),
    },
    {
      desc: 'Sends a PRIORITY frame while sending the header blocks',
      run: conn(async (c) => {
        c.headers(1, c.common(), { endHeaders: false });
        c.priority(1, 0, 255);
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a HEADERS frame to another stream while sending the header blocks',
      run: conn(async (c) => {
        c.headers(1, c.common(), { endHeaders: false });
        c.headers(3, c.common(), { end: true });
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/5.1', [
    {
      desc: 'idle: Sends a DATA frame',
      run: conn(async (c) => {
        c.data(1, true, 'test');
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'idle: Sends a RST_STREAM frame',
      run: conn(async (c) => {
        c.rst(1, CANCEL);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'idle: Sends a WINDOW_UPDATE frame',
      run: conn(async (c) => {
        c.windowUpdate(1, 100);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'idle: Sends a CONTINUATION frame',
      run: conn(async (c) => {
        c.continuation(1, true, c.common());
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'half closed (remote): Sends a DATA frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.data(1, true, 'test');
        await c.streamError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'half closed (remote): Sends a HEADERS frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.headers(1, c.common(), { end: true });
        await c.streamError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'half closed (remote): Sends a CONTINUATION frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.continuation(1, true, c.common());
        await c.streamError(STREAM_CLOSED, PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'closed: Sends a DATA frame after sending RST_STREAM frame',
      run: conn(async (c) => {
        c.headers(1, c.common());
        c.rst(1, CANCEL);
        c.data(1, true, 'test');
        await c.streamError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'closed: Sends a HEADERS frame after sending RST_STREAM frame',
      run: conn(async (c) => {
        c.headers(1, c.common());
        c.rst(1, CANCEL);
        c.headers(1, c.common(), { end: true });
        await c.streamError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'closed: Sends a CONTINUATION frame after sending RST_STREAM frame',
      run: conn(async (c) => {
        c.headers(1, c.common());
        c.rst(1, CANCEL);
        c.continuation(1, true, c.dummy(1));
        await c.streamError(STREAM_CLOSED, PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'closed: Sends a DATA frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        await c.streamClose();
        c.data(1, true, 'test');
        await c.connectionError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'closed: Sends a HEADERS frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        await c.streamClose();
        c.headers(1, c.common(), { end: true });
        await c.connectionError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'closed: Sends a CONTINUATION frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        await c.streamClose();
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(STREAM_CLOSED, PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/5.1.1', [
    {
      desc: 'Sends even-numbered stream identifier',
      run: conn(async (c) => {
        c.headers(2, c.common(), { end: true });
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends stream identifier that is numerically smaller than previous',
      run: conn(async (c) => {
        c.headers(5, c.common(), { end: true });
        c.headers(3, c.common(), { end: true });
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends HEADERS frame with the stream which is in half-closed (remote) state',
      run: conn(async (c) => {
        c.headers(5, c.common(), { end: true });
        c.headers(5, c.common(), { end: true });
        await c.streamError(STREAM_CLOSED);
      }),
    },
  ]),
  ...group('http2/5.1.2', [
    {
      desc: 'Sends HEADERS frames that causes their advertised concurrent stream limit to be exceeded',
      run: conn(async (c) => {
        const max = c.settings.get(3);
        if (max === undefined) throw new Error('no SETTINGS_MAX_CONCURRENT_STREAMS (h2spec skips the case)');
        c.settingsFrame([IWS, 0]); // no response can complete: every stream stays open
        for (let i = 0, id = 1; i <= max; i++, id += 2) c.headers(id, c.common(), { end: true });
        c.followUp = false; // every stream is held: a new one would be refused too
        await c.streamError(PROTOCOL_ERROR, REFUSED_STREAM);
      }),
    },
  ]),
  ...group('http2/5.3.1', [
    {
      desc: 'Sends HEADERS frame that depends on itself',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, priority: { dep: 1, weight: 255 } });
        await c.streamError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends PRIORITY frame that depend on itself',
      run: conn(async (c) => {
        c.priority(1, 1, 255);
        await c.streamError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/5.4.1', [
    {
      desc: 'Sends an invalid PING frame for connection close',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x08\x06\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00'));
        await c.closed();
      }),
    },
    {
      desc: 'Sends an invalid PING frame to receive GOAWAY frame',
      strict: true,
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x08\x06\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00'));
        await c.goawayFrame(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/5.5', [
    {
      desc: 'Sends an unknown extension frame',
      run: conn(async (c) => {
        c.send(UNKNOWN_FRAME);
        c.ping(false);
        await c.pingFrame();
      }),
    },
    {
      desc: 'Sends an unknown extension frame in the middle of a header block',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, endHeaders: false });
        c.send(UNKNOWN_FRAME);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
];
