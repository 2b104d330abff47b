/**
 * h2spec's "http2" suite, section 6 (github.com/summerwind/h2spec http2/6_*.go, citing RFC 7540;
 * the same rules are in RFC 9113 6): each frame type's own rules: DATA, HEADERS, PRIORITY,
 * RST_STREAM, SETTINGS (and its parameters and synchronization), PING, GOAWAY, WINDOW_UPDATE
 * (and the flow-control windows), CONTINUATION.
 */
import { CANCEL, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, PROTOCOL_ERROR, STREAM_CLOSED } from './h2-raw.js';
import { conn, group, type SpecCase } from './h2spec.js';

const raw = (s: string) => Buffer.from(s, 'latin1');
const IWS = 4; // SETTINGS_INITIAL_WINDOW_SIZE
const MAX = 2147483647;

export const FRAMES: SpecCase[] = [
  ...group('http2/6.1', [
    {
      desc: 'Sends a DATA frame with 0x0 stream identifier',
      run: conn(async (c) => {
        c.data(0, true, 'test');
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a DATA frame on the stream that is not in "open" or "half-closed (local)" state',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'), { end: true });
        c.data(1, true, 'test');
        await c.streamError(STREAM_CLOSED);
      }),
    },
    {
      desc: 'Sends a DATA frame with invalid pad length',
      run: conn(async (c) => {
        c.headers(1, [...c.common('POST'), ['content-length', '4']]);
        c.send(raw('\x00\x00\x05\x00\x09\x00\x00\x00\x01\x06\x54\x65\x73\x74'));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/6.2', [
    {
      desc: 'Sends a HEADERS frame without the END_HEADERS flag, and a PRIORITY frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { endHeaders: false });
        c.priority(1, 0, 255);
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a HEADERS frame to another stream while sending a HEADERS frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { endHeaders: false });
        c.headers(3, c.common(), { end: true });
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a HEADERS frame with 0x0 stream identifier',
      run: conn(async (c) => {
        c.headers(0, c.common(), { end: true });
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a HEADERS frame with invalid pad length',
      run: conn(async (c) => {
        const block = c.encode(c.common());
        // HEADERS (END_STREAM, END_HEADERS, PADDED): a pad length 1 more than what follows it
        c.send(Buffer.concat([raw('\x00\x00'), Buffer.from([block.length + 1]), raw('\x01\x0d\x00\x00\x00\x01'), Buffer.from([block.length + 2]), block]));
        await c.streamError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/6.3', [
    {
      desc: 'Sends a PRIORITY frame with 0x0 stream identifier',
      run: conn(async (c) => {
        c.priority(0, 0, 255);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a PRIORITY frame with a length other than 5 octets',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.send(raw('\x00\x00\x04\x02\x00\x00\x00\x00\x01\x80\x00\x00\x01'));
        await c.streamError(FRAME_SIZE_ERROR);
      }),
    },
    {
      desc: 'Sends a PRIORITY frame for an idle stream, then send a HEADER frame for a lower stream ID',
      strict: true,
      run: conn(async (c) => {
        c.priority(3, 0, 255);
        c.headers(1, c.common(), { end: true });
        await c.headersFrame(1);
      }),
    },
  ]),
  ...group('http2/6.4', [
    {
      desc: 'Sends a RST_STREAM frame with 0x0 stream identifier',
      run: conn(async (c) => {
        c.rst(0, CANCEL);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a RST_STREAM frame on a idle stream',
      run: conn(async (c) => {
        c.rst(1, CANCEL);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a RST_STREAM frame with a length other than 4 octets',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.send(raw('\x00\x00\x03\x03\x00\x00\x00\x00\x01\x00\x00\x00'));
        await c.streamError(FRAME_SIZE_ERROR);
      }),
    },
  ]),
  ...group('http2/6.5', [
    {
      desc: 'Sends a SETTINGS frame with ACK flag and payload',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x01\x04\x01\x00\x00\x00\x00\x00'));
        await c.connectionError(FRAME_SIZE_ERROR);
      }),
    },
    {
      desc: 'Sends a SETTINGS frame with 0x1 stream identifier',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x06\x04\x00\x00\x00\x00\x01\x00\x03\x00\x00\x00\x64'));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a SETTINGS frame with a length other than a multiple of 6 octets',
      run: conn(async (c) => {
        // the header says 9 octets and 8 follow: the length alone must be refused (no wait for a 9th)
        c.send(raw('\x00\x00\x09\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x02'));
        await c.streamError(PROTOCOL_ERROR, FRAME_SIZE_ERROR);
      }),
    },
  ]),
  ...group(
    'http2/6.5.2',
    (
      [
        ['SETTINGS_ENABLE_PUSH (0x2): Sends the value other than 0 or 1', 2, 2, PROTOCOL_ERROR],
        ['SETTINGS_INITIAL_WINDOW_SIZE (0x4): Sends the value above the maximum flow control window size', IWS, 2147483648, FLOW_CONTROL_ERROR],
        ['SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value below the initial value', 5, 16383, PROTOCOL_ERROR],
        ['SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value above the maximum allowed frame size', 5, 16777216, PROTOCOL_ERROR],
      ] as const
    )
      .map(
        ([desc, id, v, code]): Omit<SpecCase, 'section'> => ({
          desc,
          run: conn(async (c) => {
            c.settingsFrame([id, v]);
            await c.connectionError(code);
          }),
        }),
      )
      .concat({
        desc: 'Sends a SETTINGS frame with unknown identifier',
        run: conn(async (c) => {
          c.settingsFrame([0xff, 1]);
          c.ping(false);
          await c.pingFrame();
        }),
      }),
  ),
  ...group('http2/6.5.3', [
    {
      desc: 'Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE',
      run: conn(async (c) => {
        c.settingsFrame([IWS, 100], [IWS, 1]);
        await c.settingsAck();
        c.headers(1, c.common(), { end: true });
        await c.dataFrame(1, 1);
      }),
    },
    {
      desc: 'Sends a SETTINGS frame without ACK flag',
      run: conn(async (c) => {
        c.settingsFrame([2, 0]);
        await c.settingsAck();
      }),
    },
  ]),
  ...group('http2/6.7', [
    {
      desc: 'Sends a PING frame',
      run: conn(async (c) => {
        c.ping(false, 'h2spec');
        await c.pingFrame('h2spec');
      }),
    },
    {
      desc: 'Sends a PING frame with ACK',
      run: conn(async (c) => {
        c.ping(true, 'invalid');
        c.ping(false, 'h2spec');
        const f = await c.pingFrame();
        if (f.flags !== 1 || !f.payload.equals(Buffer.from('h2spec\0\0'))) throw new Error('the PING ACK was answered');
      }),
    },
    {
      desc: 'Sends a PING frame with a stream identifier field value other than 0x0',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x08\x06\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00'));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a PING frame with a length field value other than 8',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x06\x06\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00'));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/6.8', [
    {
      desc: 'Sends a GOAWAY frame with a stream identifier other than 0x0',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x08\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00'));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
  ...group('http2/6.9', [
    {
      desc: 'Sends a WINDOW_UPDATE frame with a flow control window increment of 0',
      run: conn(async (c) => {
        c.windowUpdate(0, 0);
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a WINDOW_UPDATE frame with a flow control window increment of 0 on a stream',
      run: conn(async (c) => {
        c.headers(1, c.common());
        c.windowUpdate(1, 0);
        await c.streamError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a WINDOW_UPDATE frame with a length other than 4 octets',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x03\x08\x00\x00\x00\x00\x00\x00\x00\x01'));
        await c.connectionError(FRAME_SIZE_ERROR);
      }),
    },
  ]),
  ...group('http2/6.9.1', [
    {
      desc: 'Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame',
      run: conn(async (c) => {
        c.settingsFrame([IWS, 1]);
        await c.settingsAck();
        c.headers(1, c.common(), { end: true });
        await c.dataFrame(1, 1);
      }),
    },
    {
      desc: 'Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1',
      run: conn(async (c) => {
        c.windowUpdate(0, MAX);
        c.windowUpdate(0, MAX);
        await c.goawayFrame(FLOW_CONTROL_ERROR);
      }),
    },
    {
      desc: 'Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream',
      run: conn(async (c) => {
        c.headers(1, c.common());
        c.windowUpdate(1, MAX);
        c.windowUpdate(1, MAX);
        await c.rstFrame(1, FLOW_CONTROL_ERROR);
      }),
    },
  ]),
  ...group('http2/6.9.2', [
    {
      desc: 'Changes SETTINGS_INITIAL_WINDOW_SIZE after sending HEADERS frame',
      run: conn(async (c) => {
        c.settingsFrame([IWS, 0]);
        await c.settingsAck();
        c.headers(1, c.common(), { end: true });
        c.settingsFrame([IWS, 1]);
        await c.settingsAck();
        await c.dataFrame(1, 1);
      }),
    },
    {
      desc: 'Sends a SETTINGS frame for window size to be negative',
      run: conn(async (c) => {
        c.settingsFrame([IWS, 3]);
        await c.settingsAck();
        c.headers(1, c.common(), { end: true });
        await c.dataFrame();
        c.settingsFrame([IWS, 2]);
        await c.settingsAck();
        c.windowUpdate(1, 2);
        await c.dataFrame(1, 1);
      }),
    },
    {
      desc: 'Sends a SETTINGS_INITIAL_WINDOW_SIZE settings with an exceeded maximum window size value',
      run: conn(async (c) => {
        c.send(raw('\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x80\x00\x00\x00'));
        await c.connectionError(FLOW_CONTROL_ERROR);
      }),
    },
  ]),
  ...group('http2/6.10', [
    {
      desc: 'Sends multiple CONTINUATION frames preceded by a HEADERS frame',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, endHeaders: false });
        c.continuation(1, false, c.dummy(1));
        c.continuation(1, true, c.dummy(1));
        await c.headersFrame(1);
      }),
    },
    {
      desc: 'Sends a CONTINUATION frame followed by any frame other than CONTINUATION',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'), { endHeaders: false });
        c.continuation(1, false, c.dummy(1));
        c.data(1, true, 'test');
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a CONTINUATION frame with 0x0 stream identifier',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, endHeaders: false });
        c.continuation(0, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a CONTINUATION frame preceded by a HEADERS frame with END_HEADERS flag',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true });
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a CONTINUATION frame preceded by a CONTINUATION frame with END_HEADERS flag',
      run: conn(async (c) => {
        c.headers(1, c.common(), { end: true, endHeaders: false });
        c.continuation(1, true, c.dummy(1));
        c.continuation(1, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
    {
      desc: 'Sends a CONTINUATION frame preceded by a DATA frame',
      run: conn(async (c) => {
        c.headers(1, c.common('POST'), { endHeaders: false });
        c.data(1, true, 'test');
        c.continuation(1, false, c.dummy(1));
        c.continuation(0, true, c.dummy(1));
        await c.connectionError(PROTOCOL_ERROR);
      }),
    },
  ]),
];
