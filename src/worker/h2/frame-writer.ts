/**
 * FrameWriter: the output side of one connection of fulcrum's own HTTP/2 frame layer (conn.ts).
 * Frames (RFC 9113 6) are written into a pooled arena as they are produced, and what a connection
 * produced in one event-loop turn leaves in one socket write (flushAll, one setImmediate for every
 * connection). The socket refers to written bytes until the write's callback, so an arena is given
 * back to the pool only once no write of it is in flight and it is no longer the current one, or,
 * the current one, once every write has left and nothing waits to be flushed: an idle connection
 * holds no arena (64 KiB each, ~64 MiB for 1,000 keep-alive connections otherwise), and the next
 * turn's frames go into the pool's most recently used arena, still in cache.
 *
 * Backpressure: `congested` is set when more than SOCKET_HIGH octets wait in the socket after a
 * flush (cleared by the owner on 'drain'); `framed` counts the DATA octets of this turn so that the
 * owner stops at OUT_HIGH and leaves the rest to the next turn. Not write()'s false: that says
 * only that one write was over the socket's 16 KiB highWaterMark, which a turn's frames usually
 * are, and a TLS socket completes every write a turn later, so with it nearly every turn congested
 * the connection and the next turn's DATA was copied into held pieces (a fresh allocation and its
 * page faults per response) to be copied again into the arena (BENCHMARKS.md, "HTTP/2 soak"). Response headers use HPACK from hpack.ts; END_STREAM is set on
 * the stream's last DATA frame while that frame is still unsent, else an empty DATA frame carries it.
 */
import type net from 'node:net';
import * as F from './frames.js';
import { encodeField, encodeStatus, fieldBytesMax } from './hpack.js';

/** an arena: output frames are written here and sent from here */
const ARENA_BYTES = 64 * 1024;
const ARENA_FREE_MAX = 256;
const arenas: Buffer[] = [];
/** a connection's `out` while it holds no arena (reserve() takes one) */
const NO_ARENA = Buffer.alloc(0);
/**
 * octets a connection's socket may hold unsent before no more DATA is framed: over the socket's
 * highWaterMark (16 KiB), so a write this large always said false and 'drain' will follow
 */
const SOCKET_HIGH = 256 * 1024;

/** the writers with frames to send this turn, flushed by one setImmediate */
const dirty: FrameWriter[] = [];
function flushAll(): void {
  // a flush may frame more (the owner's pump): those writers go to the next turn
  const n = dirty.length;
  for (let i = 0; i < n; i++) dirty[i]!.turn();
  dirty.splice(0, n);
  if (dirty.length > 0) setImmediate(flushAll);
}

export class FrameWriter {
  /** the socket said false: no DATA until the owner sees 'drain' */
  congested = false;
  /** DATA octets framed this turn */
  framed = 0;
  private out: Buffer;
  /** what of `out` went to the socket, and what is written */
  private start = 0;
  private pos = 0;
  /** the arena of each write in flight, oldest first */
  private readonly inflight: Buffer[] = [];
  private scheduled = false;
  /** where the last DATA frame's flags are in `out`, and its stream (END_STREAM can be set on it until the flush) */
  private lastDataAt = -1;
  private lastDataStream = 0;
  private readonly onWritten = (): void => this.written();

  constructor(
    private readonly socket: net.Socket,
    /** called after each turn's flush (the owner sends what OUT_HIGH held back) */
    private readonly flushed: () => void,
  ) {
    this.out = NO_ARENA;
  }

  /**
   * settings writes our SETTINGS (6.5), with SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 when
   * `connectProtocol` (RFC 8441 3), and raises the connection's receive window by `windowIncrement`
   */
  settings(maxStreams: number, maxListBytes: number, windowIncrement: number, connectProtocol: boolean): void {
    const n = connectProtocol ? 18 : 12;
    const o = this.reserve(9 + n + 13);
    let p = F.writeFrameHeader(o, this.pos, n, F.SETTINGS, 0, 0);
    o.writeUInt16BE(F.SETTINGS_MAX_CONCURRENT_STREAMS, p);
    o.writeUInt32BE(maxStreams, p + 2);
    o.writeUInt16BE(F.SETTINGS_MAX_HEADER_LIST_SIZE, p + 6);
    o.writeUInt32BE(maxListBytes, p + 8);
    if (connectProtocol) {
      o.writeUInt16BE(F.SETTINGS_ENABLE_CONNECT_PROTOCOL, p + 12);
      o.writeUInt32BE(1, p + 14);
    }
    p = F.writeFrameHeader(o, p + n, 4, F.WINDOW_UPDATE, 0, 0);
    o.writeUInt32BE(windowIncrement, p);
    this.pos = p + 4;
    this.schedule();
  }

  settingsAck(): void {
    this.pos = F.writeFrameHeader(this.reserve(9), this.pos, 0, F.SETTINGS, F.ACK, 0);
    this.schedule();
  }

  /** pingAck answers a PING with its payload buf[s, s + 8) */
  pingAck(buf: Buffer, s: number): void {
    const at = F.writeFrameHeader(this.reserve(17), this.pos, 8, F.PING, F.ACK, 0);
    buf.copy(this.out, at, s, s + 8);
    this.pos = at + 8;
    this.schedule();
  }

  windowUpdate(id: number, inc: number): void {
    this.u32Frame(F.WINDOW_UPDATE, id, inc);
  }

  rst(id: number, code: number): void {
    this.u32Frame(F.RST_STREAM, id, code);
  }

  goaway(lastId: number, code: number): void {
    const at = F.writeFrameHeader(this.reserve(17), this.pos, 8, F.GOAWAY, 0, 0);
    this.out.writeUInt32BE(lastId, at);
    this.out.writeUInt32BE(code, at + 4);
    this.pos = at + 8;
    this.schedule();
  }

  /** head writes a response head: HEADERS (and CONTINUATION when the block is over one frame); fields [name, value, ...], names lowercase */
  head(id: number, status: number, fields: readonly (string | Buffer)[], endStream: boolean): void {
    let max = 5;
    for (let i = 0; i + 1 < fields.length; i += 2) max += fieldBytesMax((fields[i] as string).length, fields[i + 1]!.length);
    const flags = endStream ? F.END_STREAM : 0;
    if (max <= F.MAX_FRAME_BYTES) {
      const o = this.reserve(F.FRAME_HEADER_BYTES + max);
      const start = this.pos;
      let p = encodeStatus(o, start + F.FRAME_HEADER_BYTES, status);
      for (let i = 0; i + 1 < fields.length; i += 2) p = encodeField(o, p, fields[i] as string, fields[i + 1]!);
      F.writeFrameHeader(o, start, p - start - F.FRAME_HEADER_BYTES, F.HEADERS, flags | F.END_HEADERS, id);
      this.pos = p;
    } else {
      const b = Buffer.allocUnsafe(max);
      let n = encodeStatus(b, 0, status);
      for (let i = 0; i + 1 < fields.length; i += 2) n = encodeField(b, n, fields[i] as string, fields[i + 1]!);
      for (let p = 0, type = F.HEADERS; p < n; type = F.CONTINUATION) {
        const len = Math.min(n - p, F.MAX_FRAME_BYTES);
        const last = p + len === n;
        const o = this.reserve(F.FRAME_HEADER_BYTES + len);
        const at = F.writeFrameHeader(o, this.pos, len, type, (type === F.HEADERS ? flags : 0) | (last ? F.END_HEADERS : 0), id);
        b.copy(o, at, p, p + len);
        this.pos = at + len;
        p += len;
      }
    }
    this.lastDataAt = -1;
    this.schedule();
  }

  /** data writes one DATA frame of buf[s, s + n) (n <= MAX_FRAME_BYTES; the owner has checked the windows) */
  data(id: number, buf: Buffer, s: number, n: number): void {
    const o = this.reserve(F.FRAME_HEADER_BYTES + n);
    const at = F.writeFrameHeader(o, this.pos, n, F.DATA, 0, id);
    buf.copy(o, at, s, s + n);
    this.lastDataAt = this.pos + 4;
    this.lastDataStream = id;
    this.pos = at + n;
    this.framed += n;
    this.schedule();
  }

  /** end sets END_STREAM on the stream's last DATA frame if it is still unsent, else writes an empty DATA frame with it */
  end(id: number): void {
    if (this.lastDataAt >= this.start && this.lastDataStream === id) this.out[this.lastDataAt]! |= F.END_STREAM;
    else this.pos = F.writeFrameHeader(this.reserve(9), this.pos, 0, F.DATA, F.END_STREAM, id);
    this.lastDataAt = -1;
    this.schedule();
  }

  /** turn: the end of an event-loop turn (flushAll): what was framed goes out, and a new turn's count begins */
  turn(): void {
    this.framed = 0;
    this.flush();
    // only here, never from a flush inside reserve(): the owner's pump frames more, which must not
    // reenter reserve() while it is switching arenas
    this.flushed();
  }

  /** flush sends what was written since the last flush (one write) */
  flush(): void {
    this.scheduled = false;
    if (this.pos === this.start) return;
    const s = this.socket;
    if (s.destroyed) {
      this.start = this.pos;
      return;
    }
    this.inflight.push(this.out);
    s.write(this.out.subarray(this.start, this.pos), this.onWritten);
    if (s.writableLength >= SOCKET_HIGH) this.congested = true;
    this.start = this.pos;
    this.lastDataAt = -1;
  }

  private u32Frame(type: number, id: number, v: number): void {
    const at = F.writeFrameHeader(this.reserve(13), this.pos, 4, type, 0, id);
    this.out.writeUInt32BE(v, at);
    this.pos = at + 4;
    this.schedule();
  }

  /** reserve makes room for n octets at pos (flushing and taking a new arena if needed) and returns the arena */
  private reserve(n: number): Buffer {
    if (this.out.length - this.pos >= n) return this.out;
    this.flush();
    const old = this.out;
    if (old.length === ARENA_BYTES && !this.inflight.includes(old) && arenas.length < ARENA_FREE_MAX) arenas.push(old);
    this.out = n <= ARENA_BYTES ? (arenas.pop() ?? Buffer.allocUnsafeSlow(ARENA_BYTES)) : Buffer.allocUnsafe(n);
    this.start = this.pos = 0;
    this.lastDataAt = -1;
    return this.out;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (dirty.length === 0) setImmediate(flushAll);
    dirty.push(this);
  }

  /** written: a write left; its arena is free once no later write uses it and it is no longer the current one */
  private written(): void {
    const a = this.inflight.shift();
    if (a === undefined || this.inflight[0] === a) return;
    if (a === this.out) {
      // the current arena: given back when all of it has left (the next frames take one from the pool)
      if (this.inflight.length > 0 || this.pos !== this.start) return;
      this.out = NO_ARENA;
      this.start = this.pos = 0;
      this.lastDataAt = -1;
    }
    if (a.length === ARENA_BYTES && arenas.length < ARENA_FREE_MAX) arenas.push(a);
  }
}
