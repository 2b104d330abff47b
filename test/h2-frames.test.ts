/**
 * fulcrum's own HTTP/2 frame layer (src/worker/h2/conn.ts, http2.implementation "fulcrum") driven
 * with raw frames over h2c on the engine's plain listener (test/helpers/engine.ts's handler): what
 * RFC 9113 requires of a server that node:http2 clients never exercise. The preface and SETTINGS
 * exchange, PING, CONTINUATION assembly and padding, connection errors (GOAWAY with the code of
 * RFC 9113 section 7 that the RFC names), stream errors that leave the connection serving,
 * REFUSED_STREAM beyond maxConcurrentStreams, send flow control that honours the client's
 * windows, request bodies with trailers and a Content-Length they must match, and frames on
 * closed streams (5.1: ignored after our RST_STREAM, STREAM_CLOSED otherwise). The h2spec cases
 * are test/h2-conformance.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createH2Handler, type H2Front } from '../src/worker/h2/h2-front.js';
import { H2_DEFAULTS, type H2Options } from '../src/worker/h2/h2-options.js';
import { Closed, ClosedStreams } from '../src/worker/h2/stream-states.js';
import { type EngineHarness, startEngine } from './helpers/engine.js';
import { END_HEADERS, END_STREAM, Frame, frame, h2connect, h2request, hpack, PREFACE, RawH2 } from './helpers/h2.js';
import {
  COMPRESSION_ERROR,
  DATA,
  ENHANCE_YOUR_CALM,
  FLOW_CONTROL_ERROR,
  FRAME_SIZE_ERROR,
  PADDED,
  PRIORITY,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  response,
  STREAM_CLOSED,
  setting,
  u32,
  WINDOW_UPDATE,
} from './helpers/h2-raw.js';

interface Harness {
  e: EngineHarness;
  front: H2Front;
}

async function start(h2: Partial<H2Options> = {}): Promise<Harness> {
  let front: H2Front | null = null;
  const e = await startEngine({ h2c: true, otherProtocol: (s) => front!.accept(s) });
  front = createH2Handler(e.listener.handler, () => ({ ...H2_DEFAULTS, ...h2, implementation: 'fulcrum', engine: e.listener.options }));
  return { e, front };
}

const get = (path: string, extra: [string, string][] = [], method = 'GET'): [string, string][] => [
  [':method', method],
  [':scheme', 'http'],
  [':authority', 'a.test'],
  [':path', path],
  ...extra,
];

describe('h2 frame layer (fulcrum): preface, SETTINGS, PING, header blocks', () => {
  let h: Harness;
  before(async () => {
    h = await start({ maxConcurrentStreams: 100, maxHeaderListBytes: 4096 });
  });
  after(() => h.e.close());

  it("our SETTINGS come first (MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE), then a connection WINDOW_UPDATE and the ACK of the client's", async () => {
    const c = await RawH2.open(h.e.port, false);
    await c.until(() => c.frames.some((f) => f.type === Frame.Settings && f.flags === 1), 2000, 'the SETTINGS ACK');
    const first = c.frames[0]!;
    assert.equal(first.type, Frame.Settings);
    assert.equal(first.flags, 0);
    const s = new Map<number, number>();
    for (let p = 0; p < first.payload.length; p += 6) s.set(first.payload.readUInt16BE(p), first.payload.readUInt32BE(p + 2));
    assert.equal(s.get(3), 100);
    assert.equal(s.get(6), 4096);
    const wu = c.frames.find((f) => f.type === WINDOW_UPDATE && f.stream === 0);
    assert.ok(wu && wu.payload.readUInt32BE(0) > 0);
    c.destroy();
  });

  it('a client that never acknowledges our SETTINGS gets GOAWAY SETTINGS_TIMEOUT; one that does keeps its connection', async () => {
    const t = await start({ settingsAckMs: 200 });
    try {
      const silent = await RawH2.open(t.e.port, false);
      const acking = await RawH2.open(t.e.port, false);
      acking.send(frame(Frame.Settings, 1, 0));
      await silent.until(() => silent.goaway() !== null && silent.closed, 3000, 'GOAWAY and close');
      assert.equal(silent.goaway()!.code, 4);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(acking.goaway(), null);
      assert.equal(acking.closed, false);
      acking.destroy();
    } finally {
      await t.e.close();
    }
  });

  it('PING is answered with its payload (ACK)', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.send(frame(Frame.Ping, 0, 0, Buffer.from('12345678')));
    await c.until(() => c.frames.some((f) => f.type === Frame.Ping), 2000, 'the PING ACK');
    const p = c.frames.find((f) => f.type === Frame.Ping)!;
    assert.equal(p.flags, 1);
    assert.equal(p.payload.toString(), '12345678');
    c.destroy();
  });

  it('HEADERS + CONTINUATION are assembled; padding and the priority fields are skipped; PRIORITY frames ignored', async () => {
    const c = await RawH2.open(h.e.port, false);
    const block = hpack(get('/cont', [['x-a', 'b'.repeat(100)]]));
    c.send(frame(PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
    c.send(frame(Frame.Headers, END_STREAM, 1, block.subarray(0, 10)));
    c.send(frame(Frame.Continuation, 0, 1, block.subarray(10, 50)));
    c.send(frame(Frame.Continuation, END_HEADERS, 1, block.subarray(50)));
    // padded (3 octets of padding) with the PRIORITY flag (5 octets)
    const padded = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), hpack(get('/pad')), Buffer.alloc(3)]);
    c.send(frame(Frame.Headers, END_HEADERS | END_STREAM | PADDED | 0x20, 3, padded));
    await c.until(() => response(c, 1).ended && response(c, 3).ended, 3000, 'two responses');
    assert.equal(response(c, 1).status, 200);
    assert.equal(JSON.parse(response(c, 1).body.toString()).target, '/cont');
    assert.deepEqual(JSON.parse(response(c, 1).body.toString()).fields.slice(2), ['x-a', 'b'.repeat(100)]);
    assert.equal(JSON.parse(response(c, 3).body.toString()).target, '/pad');
    assert.equal(c.goaway(), null);
    c.destroy();
  });
});

describe("h2 frame layer (fulcrum): connection errors are GOAWAY with the RFC's code", () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.e.close());

  const big = Buffer.alloc(16385);
  const cases: [string, () => Buffer, number][] = [
    ['HEADERS on an even (server) stream id', () => frame(Frame.Headers, END_HEADERS | END_STREAM, 2, hpack(get('/'))), PROTOCOL_ERROR],
    ['DATA on an idle stream', () => frame(DATA, 0, 5, Buffer.from('x')), PROTOCOL_ERROR],
    ['a frame over SETTINGS_MAX_FRAME_SIZE', () => frame(DATA, 0, 1, big), FRAME_SIZE_ERROR],
    ['an undecodable header block (index 0)', () => frame(Frame.Headers, END_HEADERS | END_STREAM, 1, Buffer.from([0x80])), COMPRESSION_ERROR],
    ['WINDOW_UPDATE of 0 on the connection', () => frame(WINDOW_UPDATE, 0, 0, u32(0)), PROTOCOL_ERROR],
    ['a connection window over 2^31-1', () => frame(WINDOW_UPDATE, 0, 0, u32(0x7fffffff)), FLOW_CONTROL_ERROR],
    ['PUSH_PROMISE from a client', () => frame(PUSH_PROMISE, END_HEADERS, 1, Buffer.alloc(4)), PROTOCOL_ERROR],
    ['a PING of 7 octets', () => frame(Frame.Ping, 0, 0, Buffer.alloc(7)), FRAME_SIZE_ERROR],
    ['SETTINGS_ENABLE_PUSH of 2', () => frame(Frame.Settings, 0, 0, setting(2, 2)), PROTOCOL_ERROR],
    ['SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', () => frame(Frame.Settings, 0, 0, setting(4, 0x80000000)), FLOW_CONTROL_ERROR],
    ['SETTINGS on a stream', () => frame(Frame.Settings, 0, 1), PROTOCOL_ERROR],
    ['RST_STREAM on an idle stream', () => frame(Frame.RstStream, 0, 9, u32(8)), PROTOCOL_ERROR],
    [
      'another frame inside a header block',
      () => Buffer.concat([frame(Frame.Headers, 0, 1, hpack(get('/'))), frame(Frame.Ping, 0, 0, Buffer.alloc(8))]),
      PROTOCOL_ERROR,
    ],
    [
      'HEADERS with the PRIORITY flag and no room for its fields',
      () => frame(Frame.Headers, END_HEADERS | END_STREAM | 0x20, 1, Buffer.from([0x82])),
      FRAME_SIZE_ERROR,
    ],
    ['CONTINUATION without HEADERS', () => frame(Frame.Continuation, END_HEADERS, 1, hpack(get('/'))), PROTOCOL_ERROR],
  ];
  for (const [what, bytes, code] of cases) {
    it(`${what}: GOAWAY ${code} and the connection closes`, async () => {
      const c = await RawH2.open(h.e.port, false);
      c.send(bytes());
      await c.until(() => c.goaway() !== null && c.closed, 3000, 'GOAWAY and close');
      assert.equal(c.goaway()!.code, code);
    });
  }

  it('a first frame other than SETTINGS after the preface', async () => {
    const s = net.connect(h.e.port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.concat([PREFACE, frame(Frame.Ping, 0, 0, Buffer.alloc(8))]));
    await new Promise((r) => s.once('close', r));
    const all = Buffer.concat(got);
    // our SETTINGS and WINDOW_UPDATE, then GOAWAY PROTOCOL_ERROR
    let p = 0;
    let goaway = -1;
    while (p + 9 <= all.length) {
      const len = all.readUIntBE(p, 3);
      if (all[p + 3] === Frame.Goaway) goaway = all.readUInt32BE(p + 13);
      p += 9 + len;
    }
    assert.equal(goaway, PROTOCOL_ERROR);
  });
});

describe('h2 frame layer (fulcrum): stream errors leave the connection serving', () => {
  let h: Harness;
  before(async () => {
    h = await start({ maxConcurrentStreams: 2, maxHeaderListBytes: 1024 });
  });
  after(() => h.e.close());

  it('an uppercase field name is malformed (RST_STREAM PROTOCOL_ERROR); a list over maxHeaderListBytes is ENHANCE_YOUR_CALM', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/', [['X-Upper', 'v']]));
    c.request(3, get('/', [['x-big', 'v'.repeat(1100)]]));
    c.request(5, get('/after'));
    await c.until(() => response(c, 1).rst !== null && response(c, 3).rst !== null && response(c, 5).ended, 3000, 'two resets and a 200');
    assert.equal(response(c, 1).rst, PROTOCOL_ERROR);
    assert.equal(response(c, 3).rst, ENHANCE_YOUR_CALM);
    assert.equal(response(c, 5).status, 200);
    assert.equal(c.goaway(), null);
    c.destroy();
  });

  it('beyond maxConcurrentStreams a stream is REFUSED_STREAM; the open ones complete', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/delay/200'));
    c.request(3, get('/delay/200'));
    c.request(5, get('/delay/200'));
    await c.until(() => response(c, 1).ended && response(c, 3).ended && response(c, 5).rst !== null, 3000, 'two responses and a refusal');
    assert.equal(response(c, 5).rst, REFUSED_STREAM);
    c.request(7, get('/later'));
    await c.until(() => response(c, 7).ended, 3000, 'a later stream served');
    c.destroy();
  });

  it('a request body: DATA and trailers; a body that does not match Content-Length is RST_STREAM PROTOCOL_ERROR', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/body', [], 'POST'), false);
    c.send(frame(DATA, 0, 1, Buffer.from('hello ')));
    c.send(frame(DATA, PADDED, 1, Buffer.concat([Buffer.from([2]), Buffer.from('world'), Buffer.alloc(2)])));
    c.send(frame(Frame.Headers, END_HEADERS | END_STREAM, 1, hpack([['x-trailer', 't']])));
    c.request(3, get('/cl', [['content-length', '5']], 'POST'), false);
    c.send(frame(DATA, END_STREAM, 3, Buffer.from('abc')));
    await c.until(() => response(c, 1).ended && response(c, 3).rst !== null, 3000, 'a response and a reset');
    assert.equal(JSON.parse(response(c, 1).body.toString()).body, 'hello world');
    assert.equal(response(c, 3).rst, PROTOCOL_ERROR);
    assert.equal(c.goaway(), null);
    c.destroy();
  });

  it('DATA after the client ended the stream is RST_STREAM STREAM_CLOSED; the response still arrives on a new stream', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/delay/300'));
    c.send(frame(DATA, 0, 1, Buffer.from('late')));
    await c.until(() => response(c, 1).rst !== null, 3000, 'the reset');
    assert.equal(response(c, 1).rst, STREAM_CLOSED);
    c.request(3, get('/x'));
    await c.until(() => response(c, 3).ended, 3000, 'the next stream');
    assert.equal(c.goaway(), null);
    c.destroy();
  });

  it('HEADERS again after the client ended the stream (half-closed remote) is RST_STREAM STREAM_CLOSED (5.1)', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/delay/300'));
    c.send(frame(Frame.Headers, END_HEADERS | END_STREAM, 1, hpack([['x-trailer', 't']])));
    await c.until(() => response(c, 1).rst !== null, 3000, 'the reset');
    assert.equal(response(c, 1).rst, STREAM_CLOSED);
    c.request(3, get('/x'));
    await c.until(() => response(c, 3).ended, 3000, 'the next stream');
    assert.equal(c.goaway(), null);
    c.destroy();
  });

  it('WINDOW_UPDATE of 0 on an open stream resets that stream only', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/delay/300'));
    c.send(frame(WINDOW_UPDATE, 0, 1, u32(0)));
    await c.until(() => response(c, 1).rst !== null, 3000, 'the reset');
    assert.equal(response(c, 1).rst, PROTOCOL_ERROR);
    c.request(3, get('/x'));
    await c.until(() => response(c, 3).ended, 3000, 'the next stream');
    c.destroy();
  });
});

describe('h2 frame layer (fulcrum): send flow control', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.e.close());

  it("DATA never exceeds the client's stream window; WINDOW_UPDATE lets the rest out", async () => {
    const c = await RawH2.open(h.e.port, false);
    c.send(frame(Frame.Settings, 0, 0, setting(4, 1000))); // INITIAL_WINDOW_SIZE 1000
    c.request(1, get('/length/5000'));
    await c.until(() => response(c, 1).body.length === 1000, 3000, 'the first window');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(response(c, 1).body.length, 1000, 'nothing past the window');
    assert.equal(response(c, 1).ended, false);
    c.send(frame(WINDOW_UPDATE, 0, 1, u32(2500)));
    await c.until(() => response(c, 1).body.length === 3500, 3000, 'the second window');
    c.send(frame(WINDOW_UPDATE, 0, 1, u32(1500)));
    await c.until(() => response(c, 1).ended, 3000, 'the end');
    assert.equal(response(c, 1).body.toString(), 'l'.repeat(5000));
    for (const f of c.frames) if (f.type === DATA) assert.ok(f.payload.length <= 2500);
    c.destroy();
  });

  it('a client that stops reading its socket: DATA waits, another client is served meanwhile, nothing is lost', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.send(frame(Frame.Settings, 0, 0, setting(4, 0x7fffffff)));
    c.send(frame(WINDOW_UPDATE, 0, 0, u32(0x7fffffff - 65535)));
    c.socket.pause();
    // 16 MB in all: more than loopback's socket buffers take, so the server's socket backs up too
    const size = 4_000_000;
    const ids = [1, 3, 5, 7];
    for (const id of ids) c.request(id, get(`/big/${size}?${id}`));
    await new Promise((r) => setTimeout(r, 300));
    const d = await RawH2.open(h.e.port, false);
    d.request(1, get('/other'));
    await d.until(() => response(d, 1).ended, 3000, 'the other client served');
    d.destroy();
    c.socket.resume();
    await c.until(() => ids.every((id) => response(c, id).ended), 20000, 'the whole bodies');
    const want = Buffer.alloc(size, 'b');
    for (const id of ids) {
      assert.ok(response(c, id).body.equals(want), `stream ${id}`);
      const seen = h.e.seen.find((x) => x.target === `/big/${size}?${id}`)!;
      assert.equal(seen.writeReturnedFalse, true);
      assert.equal(seen.writable, true, 'onClientWritable once the held bytes left');
    }
    c.destroy();
  });

  it('a response head over one frame goes out as HEADERS + CONTINUATION (node:http2 client)', async () => {
    const s = await h2connect(`http://127.0.0.1:${h.e.port}`);
    try {
      const r = await h2request(s, { ':path': '/bighead/40' });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'ok');
      for (let i = 0; i < 40; i++) assert.equal(r.headers[`x-h${i}`], String(i % 10).repeat(1000));
    } finally {
      s.close();
    }
  });

  it('a larger INITIAL_WINDOW_SIZE applies to open streams (6.9.2)', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.send(frame(Frame.Settings, 0, 0, setting(4, 100)));
    c.request(1, get('/length/3000'));
    await c.until(() => response(c, 1).body.length === 100, 3000, 'the first window');
    c.send(frame(Frame.Settings, 0, 0, setting(4, 65535)));
    await c.until(() => response(c, 1).ended, 3000, 'the rest');
    assert.equal(response(c, 1).body.length, 3000);
    c.destroy();
  });
});

describe('h2 frame layer (fulcrum): frames on closed streams (RFC 9113 5.1)', () => {
  let h: Harness;
  before(async () => {
    h = await start({ maxConcurrentStreams: 2 });
  });
  after(() => h.e.close());

  /** served: a request on stream `id` gets its whole response and the connection saw no GOAWAY */
  async function served(c: RawH2, id: number): Promise<void> {
    c.request(id, get(`/after/${id}`));
    await c.until(() => response(c, id).ended, 3000, `the response on stream ${id}`);
    assert.equal(c.goaway(), null);
  }

  it('after our RST_STREAM, the DATA and trailers the client had in flight are ignored', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/', [['X-Upper', 'v']], 'POST'), false); // malformed: RST_STREAM PROTOCOL_ERROR
    c.send(frame(DATA, 0, 1, Buffer.from('in flight')));
    c.send(frame(Frame.Headers, END_HEADERS | END_STREAM, 1, hpack([['x-trailer', 't']])));
    // the response is complete before the upload: RST_STREAM NO_ERROR, then the rest of the body arrives
    c.request(3, get('/noread', [], 'POST'), false);
    await c.until(() => response(c, 3).rst !== null, 3000, 'the early response');
    c.send(frame(DATA, END_STREAM, 3, Buffer.from('late')));
    await served(c, 5);
    assert.equal(response(c, 1).rst, PROTOCOL_ERROR);
    assert.equal(response(c, 3).rst, 0);
    assert.equal(response(c, 3).body.toString(), 'ok');
    c.destroy();
  });

  it('WINDOW_UPDATE, RST_STREAM and PRIORITY on a stream closed both ways are ignored', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/x'));
    await c.until(() => response(c, 1).ended, 3000, 'the first response');
    c.send(frame(WINDOW_UPDATE, 0, 1, u32(1000)));
    c.send(frame(Frame.RstStream, 0, 1, u32(8)));
    c.send(frame(PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
    await served(c, 3);
    c.destroy();
  });

  it('DATA on a stream the client reset is RST_STREAM STREAM_CLOSED once; more of it is ignored', async () => {
    const c = await RawH2.open(h.e.port, false);
    c.request(1, get('/delay/2000', [], 'POST'), false);
    c.send(frame(Frame.RstStream, 0, 1, u32(8)));
    c.send(frame(DATA, 0, 1, Buffer.from('a')));
    c.send(frame(DATA, 0, 1, Buffer.from('b')));
    await served(c, 3);
    assert.deepEqual(
      c.frames.filter((f) => f.stream === 1 && f.type === Frame.RstStream).map((f) => f.payload.readUInt32BE(0)),
      [STREAM_CLOSED],
    );
    c.destroy();
  });

  it('DATA or HEADERS on a stream closed both ways is GOAWAY STREAM_CLOSED', async () => {
    for (const late of [frame(DATA, END_STREAM, 1, Buffer.from('x')), frame(Frame.Headers, END_HEADERS | END_STREAM, 1, hpack(get('/')))]) {
      const c = await RawH2.open(h.e.port, false);
      c.request(1, get('/x'));
      await c.until(() => response(c, 1).ended, 3000, 'the response');
      c.send(late);
      await c.until(() => c.goaway() !== null && c.closed, 3000, 'GOAWAY and close');
      assert.equal(c.goaway()!.code, STREAM_CLOSED);
    }
  });

  it('ClosedStreams keeps the last 256 closed streams: an older one is forgotten (its frames ignored)', () => {
    const s = new ClosedStreams();
    s.note(1, Closed.Reset);
    s.note(1, Closed.Ended); // the stream reset by us is then forgotten: it stays Reset
    s.note(3, Closed.PeerReset);
    assert.equal(s.kind(1), Closed.Reset);
    assert.equal(s.kind(3), Closed.PeerReset);
    s.reset(3);
    assert.equal(s.kind(3), Closed.Reset);
    for (let id = 5; id < 5 + 2 * 255; id += 2) s.note(id, Closed.Ended);
    assert.equal(s.kind(1), Closed.Unknown);
    assert.equal(s.kind(3), Closed.Reset);
    assert.equal(s.kind(5), Closed.Ended);
    s.skipped(7, 11);
    assert.equal(s.neverOpened(9), true);
    assert.equal(s.neverOpened(13), false);
  });
});
