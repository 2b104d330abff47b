/**
 * HTTP/2 framing (RFC 9113 4 and 6) for fulcrum's own frame layer (conn.ts): the constants, a
 * reader that cuts a connection's byte stream into frames, and the writer of a frame header.
 *
 * The reader checks only what holds for every frame: the 24-octet client preface first (3.4),
 * and no frame longer than our SETTINGS_MAX_FRAME_SIZE (4.2: FRAME_SIZE_ERROR); a frame whose
 * payload is still to come is shown to the target by its header (frameStart), so that a wrong
 * fixed length is refused without waiting for octets that may never come. Everything that
 * depends on a frame's type and the connection's state is conn.ts's. A frame is handed on as a
 * view of the buffer it arrived in (valid only during the call); only a frame cut by a read's
 * end is copied, with the rest of it joined when it arrives.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** the frame header's length (4.1) */
export const FRAME_HEADER_BYTES = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value (6.5.2): ours, never raised; what we send at most */
export const MAX_FRAME_BYTES = 16384;
/** the largest flow-control window (6.9.1) */
export const MAX_WINDOW = 2 ** 31 - 1;
/** the initial window of a connection and of each stream (6.9.2) */
export const DEFAULT_WINDOW = 65535;

// frame types (6)
export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

// flags
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

// error codes (7)
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const SETTINGS_TIMEOUT = 0x4;
export const STREAM_CLOSED = 0x5;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const COMPRESSION_ERROR = 0x9;
export const ENHANCE_YOUR_CALM = 0xb;

// settings (6.5.2)
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;
/** RFC 8441 3: extended CONNECT */
export const SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8;

/** writeFrameHeader writes a frame header at `at` (the stream id's reserved bit 0); returns the payload's start. */
export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, stream: number): number {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(stream & 0x7fffffff, at + 5);
  return at + FRAME_HEADER_BYTES;
}

/**
 * controlFrameError checks what a frame header alone decides for the frames of fixed size or
 * stream (6.3-6.9): the stream id first (PROTOCOL_ERROR), then the length (FRAME_SIZE_ERROR);
 * returns the error code, or 0. A connection error in every case, as nghttp2 makes it (6.3 lets a
 * PRIORITY frame's wrong length be a stream error; 5.4 lets any stream error be a connection error).
 */
export function controlFrameError(type: number, flags: number, stream: number, length: number): number {
  switch (type) {
    case PRIORITY:
      return stream === 0 ? PROTOCOL_ERROR : length !== 5 ? FRAME_SIZE_ERROR : 0;
    case RST_STREAM:
      return stream === 0 ? PROTOCOL_ERROR : length !== 4 ? FRAME_SIZE_ERROR : 0;
    case SETTINGS:
      return stream !== 0 ? PROTOCOL_ERROR : (flags & ACK ? length !== 0 : length % 6 !== 0) ? FRAME_SIZE_ERROR : 0;
    case PING:
      return stream !== 0 ? PROTOCOL_ERROR : length !== 8 ? FRAME_SIZE_ERROR : 0;
    case GOAWAY:
      return stream !== 0 ? PROTOCOL_ERROR : length < 8 ? FRAME_SIZE_ERROR : 0;
    case WINDOW_UPDATE:
      return length !== 4 ? FRAME_SIZE_ERROR : 0;
    default:
      return 0;
  }
}

/** What the reader hands frames to (one object per connection, no closure per frame). */
export interface FrameTarget {
  /** a frame; the payload is buf[start, end), valid only during the call */
  frame(type: number, flags: number, stream: number, buf: Buffer, start: number, end: number): void;
  /**
   * a frame whose header has arrived and whose payload has not (all of it): what the header alone
   * decides is decided now (controlFrameError), since a peer may never send the octets its wrong
   * length promised (h2spec's SETTINGS of length 9 with 8 octets)
   */
  frameStart(type: number, flags: number, stream: number, length: number): void;
  /** the byte stream is not HTTP/2: a bad preface (PROTOCOL_ERROR) or an oversized frame (FRAME_SIZE_ERROR) */
  framingError(code: number): void;
  /** false once the target no longer wants frames (the connection failed or closed) */
  readonly reading: boolean;
}

/** FrameReader cuts one connection's bytes into frames. */
export class FrameReader {
  private prefaced = false;
  /** a frame (or the preface) cut by the end of a read: a copy, joined with the next read */
  private rest: Buffer | null = null;

  constructor(private readonly target: FrameTarget) {}

  /** read takes the next bytes the connection received. */
  read(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let pos = 0;
    const t = this.target;
    if (!this.prefaced) {
      const n = Math.min(buf.length, PREFACE.length);
      if (buf.compare(PREFACE, 0, n, 0, n) !== 0) {
        t.framingError(PROTOCOL_ERROR);
        return;
      }
      if (n < PREFACE.length) {
        this.rest = Buffer.from(buf);
        return;
      }
      this.prefaced = true;
      pos = PREFACE.length;
    }
    while (buf.length - pos >= FRAME_HEADER_BYTES && t.reading) {
      const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (len > MAX_FRAME_BYTES) {
        t.framingError(FRAME_SIZE_ERROR);
        return;
      }
      if (buf.length - pos - FRAME_HEADER_BYTES < len) {
        t.frameStart(buf[pos + 3]!, buf[pos + 4]!, buf.readUInt32BE(pos + 5) & 0x7fffffff, len);
        break;
      }
      const s = pos + FRAME_HEADER_BYTES;
      pos = s + len;
      t.frame(buf[s - 6]!, buf[s - 5]!, buf.readUInt32BE(s - 4) & 0x7fffffff, buf, s, pos);
    }
    if (pos < buf.length && t.reading) this.rest = Buffer.from(buf.subarray(pos));
  }
}
