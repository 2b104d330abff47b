/**
 * native-bench's `h2own-floor` target: what an HTTP/2 front costs with a frame layer of our own
 * instead of node:http2, for the h2 workloads only. A `tls.createServer` (ALPN h2, the run's
 * certificate) whose sockets speak RFC 9113 through the code here and HPACK (RFC 7541) through
 * src/worker/h2/hpack.ts (where the prototype's HPACK moved to, hardened), and the same minimal keep-alive relay to the backend as `h2-floor`: one node:net
 * connection per stream in flight, a response "parser" that finds the end of the head and
 * Content-Length. A measurement prototype to set beside h2-floor (node:http2 with the same relay)
 * and nginx in one run, not a usable server: request bodies are not relayed (DATA frames are only
 * counted and their window given back), trailers are decoded and dropped, and the TLS socket's own
 * backpressure is not watched (the load generator reads as fast as we write).
 *
 * What it does of RFC 9113: the preface and SETTINGS exchange (ours: MAX_CONCURRENT_STREAMS 128),
 * PING acks, send flow control per connection and per stream (DATA waits for WINDOW_UPDATE and the
 * relay pauses meanwhile), INITIAL_WINDOW_SIZE changes, RST_STREAM both ways, GOAWAY, PRIORITY
 * ignored, HEADERS + CONTINUATION assembly (bounded), frame size limits (16384 both ways, DATA split
 * to it). Frames produced in one event-loop turn for a connection go out in one write (setImmediate),
 * DATA payloads by reference (the relay's read buffers, allocated by node for each read).
 * H2OWN_WRITE=concat joins them in JS and writes one Buffer; the default corks and writes each (the
 * TLS layer joins them); the two measured the same within noise. Reads are 'data' events: Node 20's
 * TLSSocket takes `onread` only when it creates the TCP handle itself (tls.connect), never for an
 * accepted socket. Opt-in: `--targets ...,h2own-floor`.
 *
 *   node dist/native-bench/peers/h2own-floor.js <tlsPort> <backendPort> 1 <cert.pem> <key.pem>
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { type RelaySink, type Upstream, upstreams } from './h1-relay.js';
import { Decoded, encodeField, encodeStatus, type FieldSink, HpackDecoder } from '../../src/worker/h2/hpack.js';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('h2own-floor.js');
const [certFile, keyFile] = process.argv.slice(5);
if (!certFile || !keyFile) {
  process.stderr.write('usage: h2own-floor.js <tlsPort> <backendPort> <workers> <cert.pem> <key.pem>\n');
  process.exit(2);
}
const CONCAT = process.env.H2OWN_WRITE === 'concat';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const MAX_FRAME = 16384;
const MAX_STREAMS = 128;
/** the most header block octets we assemble from HEADERS + CONTINUATION (CONTINUATION floods) */
const MAX_BLOCK = 65536;
const MAX_WINDOW = 2 ** 31 - 1;
// frame types (RFC 9113 6) and flags
const DATA = 0;
const HEADERS = 1;
const PRIORITY = 2;
const RST_STREAM = 3;
const SETTINGS = 4;
const PUSH_PROMISE = 5;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;
// error codes (RFC 9113 7)
const PROTOCOL_ERROR = 1;
const INTERNAL_ERROR = 2;
const FLOW_CONTROL_ERROR = 3;
const STREAM_CLOSED = 5;
const FRAME_SIZE_ERROR = 6;
const REFUSED_STREAM = 7;
const COMPRESSION_ERROR = 9;

/** our SETTINGS: MAX_CONCURRENT_STREAMS (0x3) = 128 */
const OUR_SETTINGS = Buffer.from([0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, MAX_STREAMS]);
const SETTINGS_ACK = Buffer.from([0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0]);

/** frame allocates a frame of `len` payload octets with its 9-octet header written */
function frame(len: number, type: number, flags: number, id: number): Buffer {
  const b = Buffer.allocUnsafe(9 + len);
  b[0] = len >>> 16;
  b[1] = (len >>> 8) & 0xff;
  b[2] = len & 0xff;
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(id, 5);
  return b;
}

const pool = upstreams(backendPort);

/** Stream is one request: its send window and the DATA waiting for it, and the relay's sink. */
class Stream implements RelaySink {
  window: number;
  /** body pieces waiting for window, by reference; null when nothing waits */
  queue: Buffer[] | null = null;
  /** END_STREAM goes with the last queued piece */
  endQueued = false;
  upstream: Upstream | null = null;
  closed = false;

  constructor(
    readonly conn: Conn,
    readonly id: number,
  ) {
    this.window = conn.peerWindow;
  }

  respond(status: number, length: number): void {
    this.conn.respond(this, status, length);
  }

  data(piece: Buffer, last: boolean): boolean {
    const more = this.conn.data(this, piece, last);
    if (last) this.upstream = null;
    return more;
  }

  fail(): void {
    this.upstream = null;
    this.conn.reset(this, INTERNAL_ERROR);
  }
}

/** the connections with frames to write this turn, written by one setImmediate */
const dirty: Conn[] = [];
function flushAll(): void {
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** Conn is one TLS connection speaking HTTP/2. */
class Conn implements FieldSink {
  private readonly decoder = new HpackDecoder(4096, 65536);
  private readonly streams = new Map<number, Stream>();
  private lastId = 0;
  private prefaced = false;
  private settled = false;
  private goingAway = false;
  private dead = false;
  /** the unparsed tail of the last read */
  private rest: Buffer | null = null;
  /** the header block being assembled from CONTINUATION frames */
  private blockId = 0;
  private block: Buffer[] = [];
  private blockLen = 0;
  /** DATA octets received and not yet given back by WINDOW_UPDATE */
  private received = 0;
  /** the connection's send window, and SETTINGS_INITIAL_WINDOW_SIZE of the peer */
  private window = 65535;
  peerWindow = 65535;
  private readonly out: Buffer[] = [];
  private outLen = 0;
  // the request being decoded (FieldSink)
  private method = '';
  private path = '';
  private authority = '';

  constructor(private readonly sock: tls.TLSSocket) {
    sock.on('data', (b: Buffer) => this.onData(b));
    sock.on('error', () => {});
    sock.on('close', () => this.onClose());
    this.push(OUR_SETTINGS);
  }

  field(name: string, value: string): void {
    if (name === ':path') this.path = value;
    else if (name === ':method') this.method = value;
    else if (name === ':authority' || (name === 'host' && this.authority === '')) this.authority = value;
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let pos = 0;
    if (!this.prefaced) {
      if (buf.length < PREFACE.length) {
        this.rest = buf;
        return;
      }
      if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) {
        this.fail(PROTOCOL_ERROR);
        return;
      }
      this.prefaced = true;
      pos = PREFACE.length;
    }
    while (buf.length - pos >= 9 && !this.dead) {
      const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (len > MAX_FRAME) {
        this.fail(FRAME_SIZE_ERROR);
        return;
      }
      if (buf.length - pos - 9 < len) break;
      this.frame(buf, buf[pos + 3]!, buf[pos + 4]!, buf.readUInt32BE(pos + 5) & 0x7fffffff, pos + 9, pos + 9 + len);
      pos += 9 + len;
    }
    // node allocates each read: the tail may be kept by reference
    if (pos < buf.length) this.rest = buf.subarray(pos);
  }

  private frame(buf: Buffer, type: number, flags: number, id: number, s: number, e: number): void {
    if (!this.settled) {
      if (type !== SETTINGS || flags & ACK) return this.fail(PROTOCOL_ERROR); // 3.4: the preface ends with SETTINGS
      this.settled = true;
    }
    if (this.blockId !== 0 && (type !== CONTINUATION || id !== this.blockId)) return this.fail(PROTOCOL_ERROR); // 6.10
    switch (type) {
      case DATA:
        if (id === 0) return this.fail(PROTOCOL_ERROR);
        if (id > this.lastId) return this.fail(PROTOCOL_ERROR); // DATA on an idle stream (5.1)
        // the body is not relayed: give its window back at once (connection in 32 KiB steps)
        this.received += e - s;
        if (this.received >= 32768) {
          this.windowUpdate(0, this.received);
          this.received = 0;
        }
        if (e > s && (flags & END_STREAM) === 0 && this.streams.has(id)) this.windowUpdate(id, e - s);
        return;
      case HEADERS: {
        if (id === 0 || (id & 1) === 0) return this.fail(PROTOCOL_ERROR);
        if (flags & PADDED) {
          const pad = buf[s++]!;
          e -= pad;
          if (e < s) return this.fail(PROTOCOL_ERROR);
        }
        if (flags & PRIORITY_FLAG) s += 5;
        if (e < s) return this.fail(FRAME_SIZE_ERROR);
        if (flags & END_HEADERS) return this.headers(id, buf, s, e);
        this.blockId = id;
        this.block.push(Buffer.from(buf.subarray(s, e)));
        this.blockLen = e - s;
        return;
      }
      case CONTINUATION: {
        if (this.blockId === 0) return this.fail(PROTOCOL_ERROR);
        this.blockLen += e - s;
        if (this.blockLen > MAX_BLOCK) return this.fail(PROTOCOL_ERROR);
        this.block.push(Buffer.from(buf.subarray(s, e)));
        if ((flags & END_HEADERS) === 0) return;
        const whole = Buffer.concat(this.block);
        this.block.length = 0;
        this.blockId = 0;
        return this.headers(id, whole, 0, whole.length);
      }
      case PRIORITY:
        if (e - s !== 5) return this.fail(FRAME_SIZE_ERROR);
        return;
      case RST_STREAM: {
        if (id === 0) return this.fail(PROTOCOL_ERROR);
        if (e - s !== 4) return this.fail(FRAME_SIZE_ERROR);
        const st = this.streams.get(id);
        if (st !== undefined) this.close(st, true);
        else if (id > this.lastId) return this.fail(PROTOCOL_ERROR);
        return;
      }
      case SETTINGS:
        if (id !== 0) return this.fail(PROTOCOL_ERROR);
        if (flags & ACK) {
          if (e !== s) this.fail(FRAME_SIZE_ERROR);
          return;
        }
        if ((e - s) % 6 !== 0) return this.fail(FRAME_SIZE_ERROR);
        for (let p = s; p < e; p += 6) if (!this.setting(buf.readUInt16BE(p), buf.readUInt32BE(p + 2))) return;
        this.push(SETTINGS_ACK);
        return;
      case PUSH_PROMISE:
        return this.fail(PROTOCOL_ERROR); // 8.4: clients never push
      case PING:
        if (id !== 0) return this.fail(PROTOCOL_ERROR);
        if (e - s !== 8) return this.fail(FRAME_SIZE_ERROR);
        if ((flags & ACK) === 0) {
          const f = frame(8, PING, ACK, 0);
          buf.copy(f, 9, s, e);
          this.push(f);
        }
        return;
      case GOAWAY:
        if (id !== 0) return this.fail(PROTOCOL_ERROR);
        this.goingAway = true;
        if (this.streams.size === 0) this.end();
        return;
      case WINDOW_UPDATE: {
        if (e - s !== 4) return this.fail(FRAME_SIZE_ERROR);
        const inc = buf.readUInt32BE(s) & 0x7fffffff;
        if (id === 0) {
          if (inc === 0) return this.fail(PROTOCOL_ERROR);
          this.window += inc;
          if (this.window > MAX_WINDOW) return this.fail(FLOW_CONTROL_ERROR);
          for (const st of this.streams.values()) if (st.queue !== null) this.drain(st);
          return;
        }
        const st = this.streams.get(id);
        if (st === undefined) return;
        if (inc === 0) return this.reset(st, PROTOCOL_ERROR);
        st.window += inc;
        if (st.window > MAX_WINDOW) return this.reset(st, FLOW_CONTROL_ERROR);
        if (st.queue !== null) this.drain(st);
        return;
      }
      default:
        return; // 4.1: unknown types are ignored
    }
  }

  /** setting applies one of the peer's settings (6.5.2); false after failing the connection */
  private setting(key: number, v: number): boolean {
    let error = 0;
    if ((key === 0x2 && v > 1) || (key === 0x5 && (v < 16384 || v > 16777215))) error = PROTOCOL_ERROR;
    else if (key === 0x4 && v > MAX_WINDOW) error = FLOW_CONTROL_ERROR;
    else if (key === 0x4) {
      // 6.9.2: the change applies to every open stream's window
      const delta = v - this.peerWindow;
      this.peerWindow = v;
      for (const st of this.streams.values()) {
        st.window += delta;
        if (st.window > MAX_WINDOW) error = FLOW_CONTROL_ERROR;
        else if (delta > 0 && st.queue !== null) this.drain(st);
      }
    }
    // HEADER_TABLE_SIZE: our encoder never indexes; MAX_FRAME_SIZE: we never send more than 16384
    if (error !== 0) this.fail(error);
    return error === 0;
  }

  /** headers handles a complete header block: a new request, or trailers (decoded for HPACK's sake, dropped) */
  private headers(id: number, buf: Buffer, s: number, e: number): void {
    this.method = this.path = this.authority = '';
    if (this.decoder.decode(buf, s, e, this) === Decoded.Error) return this.fail(COMPRESSION_ERROR);
    if (id <= this.lastId) {
      if (!this.streams.has(id)) this.fail(STREAM_CLOSED);
      return;
    }
    this.lastId = id;
    if (this.goingAway) return;
    if (this.streams.size >= MAX_STREAMS) return this.rst(id, REFUSED_STREAM);
    if (this.method === '' || this.path === '') return this.rst(id, PROTOCOL_ERROR);
    // END_STREAM or not: a request body, if any, is not relayed
    const st = new Stream(this, id);
    this.streams.set(id, st);
    const up = pool.take();
    st.upstream = up;
    up.start(st, this.method, this.path, this.authority || '127.0.0.1');
  }

  /** respond sends the response head; with no body it ends the stream */
  respond(st: Stream, status: number, length: number): void {
    if (st.closed) return;
    const f = Buffer.allocUnsafe(9 + 32);
    let end = encodeStatus(f, 9, status);
    if (length >= 0) end = encodeField(f, end, 'content-length', String(length));
    const len = end - 9;
    f[0] = 0;
    f[1] = len >>> 8;
    f[2] = len & 0xff;
    f[3] = HEADERS;
    f[4] = END_HEADERS | (length === 0 ? END_STREAM : 0);
    f.writeUInt32BE(st.id, 5);
    this.push(f.subarray(0, end));
    if (length === 0) this.close(st, false);
  }

  /** data sends body bytes as the windows allow and queues the rest; false when some wait (the relay should pause) */
  data(st: Stream, b: Buffer, end: boolean): boolean {
    if (st.closed) return true;
    if (st.queue !== null) {
      st.queue.push(b);
      st.endQueued = end;
      return false;
    }
    const sent = this.send(st, b, end);
    if (sent === b.length) return true;
    st.queue = [sent === 0 ? b : b.subarray(sent)];
    st.endQueued = end;
    return false;
  }

  /** send writes DATA frames of b while the windows allow; how many octets went */
  private send(st: Stream, b: Buffer, end: boolean): number {
    let p = 0;
    while (p < b.length) {
      const n = Math.min(b.length - p, MAX_FRAME, st.window, this.window);
      if (n <= 0) return p;
      const last = end && p + n === b.length;
      const h = frame(0, DATA, last ? END_STREAM : 0, st.id);
      h[1] = n >>> 8; // n <= 16384: the length's high octet stays 0
      h[2] = n & 0xff;
      this.push(h);
      this.push(p === 0 && n === b.length ? b : b.subarray(p, p + n));
      st.window -= n;
      this.window -= n;
      p += n;
    }
    if (b.length === 0 && end) this.push(frame(0, DATA, END_STREAM, st.id));
    if (end) this.close(st, false);
    return p;
  }

  /** drain sends what a stream queued, after its window or the connection's grew */
  private drain(st: Stream): void {
    const q = st.queue!;
    while (q.length > 0) {
      const b = q[0]!;
      const end = st.endQueued && q.length === 1;
      const sent = this.send(st, b, end);
      if (sent < b.length) {
        q[0] = b.subarray(sent);
        return;
      }
      q.shift();
    }
    st.queue = null;
    st.upstream?.resume();
  }

  private windowUpdate(id: number, inc: number): void {
    const f = frame(4, WINDOW_UPDATE, 0, id);
    f.writeUInt32BE(inc, 9);
    this.push(f);
  }

  private rst(id: number, code: number): void {
    const f = frame(4, RST_STREAM, 0, id);
    f.writeUInt32BE(code, 9);
    this.push(f);
  }

  /** reset ends a stream with RST_STREAM (a stream error, 5.4.2) */
  reset(st: Stream, code: number): void {
    if (st.closed) return;
    this.rst(st.id, code);
    this.close(st, true);
  }

  /** close forgets a stream; when it ends early its relay connection is dropped (its response has nowhere to go) */
  private close(st: Stream, early: boolean): void {
    if (st.closed) return;
    st.closed = true;
    st.queue = null;
    this.streams.delete(st.id);
    const up = st.upstream;
    st.upstream = null;
    if (early && up !== null) up.abandon();
    if (this.goingAway && this.streams.size === 0) this.end();
  }

  /** fail is a connection error (5.4.1): GOAWAY with the code, then close */
  private fail(code: number): void {
    if (this.dead) return;
    const f = frame(8, GOAWAY, 0, 0);
    f.writeUInt32BE(this.lastId, 9);
    f.writeUInt32BE(code, 13);
    this.push(f);
    this.end();
  }

  private end(): void {
    this.flush();
    this.dead = true;
    this.sock.end();
  }

  private onClose(): void {
    this.dead = true;
    for (const st of this.streams.values()) this.close(st, true);
  }

  private push(b: Buffer): void {
    if (this.dead) return;
    if (this.out.length === 0) {
      if (dirty.length === 0) setImmediate(flushAll);
      dirty.push(this);
    }
    this.out.push(b);
    this.outLen += b.length;
  }

  /** flush writes what this turn produced: one Buffer (H2OWN_WRITE=concat) or corked writes */
  flush(): void {
    const out = this.out;
    if (out.length === 0) return;
    if (!this.sock.destroyed) {
      if (CONCAT) this.sock.write(out.length === 1 ? out[0]! : Buffer.concat(out, this.outLen));
      else {
        this.sock.cork();
        for (let i = 0; i < out.length; i++) this.sock.write(out[i]!);
        this.sock.uncork();
      }
    }
    out.length = 0;
    this.outLen = 0;
  }
}

serve(workers, async () => {
  const server = tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), ALPNProtocols: ['h2'] });
  server.on('secureConnection', (sock) => {
    sock.setNoDelay(true);
    new Conn(sock);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});
