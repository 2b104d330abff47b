/**
 * HeaderBlocks: the inbound side of header blocks for fulcrum's own frame layer (conn.ts): a
 * HEADERS frame's padding and priority fields (RFC 9113 6.2), the assembly of a block continued
 * in CONTINUATION frames (4.3, 6.10), its HPACK decoding (hpack.ts) and the checks nghttp2 makes
 * of a request's fields for node:http2 (its HTTP messaging checks), so that both implementations
 * treat the same requests as malformed (8.1.1: a stream error PROTOCOL_ERROR, RST_STREAM):
 *
 * - every field: a lowercase token name, a value without NUL, CR, LF or edge whitespace (8.2.1,
 *   validField in h2-request.ts);
 * - pseudo-header fields (8.3): only :method, :scheme, :authority, :path (and :protocol, which
 *   h2-request.ts refuses unless RFC 8441 is offered), each at most once, all before the regular
 *   fields; :path not empty; :method present, and :scheme and :path unless the method is CONNECT
 *   (8.5: then :authority and neither of them);
 * - connection-specific fields (8.2.2: Connection, Keep-Alive, Proxy-Connection,
 *   Transfer-Encoding, Upgrade) and a TE other than "trailers";
 * - trailers (8.1): no pseudo-header field at all.
 * What remains for h2-request.ts's readRequest is what an HTTP server answers rather than resets:
 * :authority/Host disagreement, userinfo, CONNECT, the engine's limits (400, 405, 413, 414, 431).
 *
 * The CONTINUATION flood (CVE-2024-27316 class) is bounded here: a block may take at most
 * MAX_CONTINUATIONS frames and maxHeaderListBytes + one frame of octets (beyond: GOAWAY
 * ENHANCE_YOUR_CALM). Every block is decoded, whatever its stream's state, so that the HPACK
 * context stays in step with the client's (4.3); conn.ts decides what the block means.
 */
import * as F from './frames.js';
import type { H2Options } from './h2-options.js';
import { validField } from './h2-request.js';
import { Decoded, type FieldSink, HpackDecoder } from './hpack.js';

/** CONTINUATION frames one header block may take */
const MAX_CONTINUATIONS = 32;

// what a block carried, as bits (pseudo-header fields seen, and whether a regular field came)
const METHOD = 1;
const SCHEME = 2;
const AUTHORITY = 4;
const PATH = 8;
const PROTOCOL = 16;
const PSEUDO = METHOD | SCHEME | AUTHORITY | PATH | PROTOCOL;
const REGULAR = 32;
const CONNECT = 64;

/** What a decoded block is handed to (the connection). */
export interface BlockTarget {
  readonly options: H2Options;
  /** a connection error (GOAWAY with the code) */
  fail(code: number): void;
  /** the CONTINUATION flood: GOAWAY ENHANCE_YOUR_CALM, counted */
  calm(metric: null, what: string): void;
  /** a whole block decoded (HeaderBlocks.fields holds its fields; `tooLarge`: over maxHeaderListBytes) */
  headerBlock(id: number, endStream: boolean, tooLarge: boolean): void;
}

export class HeaderBlocks implements FieldSink {
  /** the stream whose block is being assembled from CONTINUATION frames (0: none): any other frame is PROTOCOL_ERROR (6.10) */
  blockId = 0;
  /** the decoded fields of the block being handled: [name, value, ...] (readRequest's input) */
  readonly fields: string[] = [];
  private readonly decoder: HpackDecoder;
  private blockEnd = false;
  private readonly block: Buffer[] = [];
  private blockLen = 0;
  private continuations = 0;
  /** a field failed 8.2.1, a pseudo-header field was unknown, repeated or late, or a connection-specific field came */
  private malformed = false;
  private seen = 0;

  constructor(private readonly target: BlockTarget) {
    this.decoder = new HpackDecoder(4096, target.options.maxHeaderListBytes);
  }

  /** headers: a HEADERS frame (stream id checked by the caller: odd, not 0) */
  headers(flags: number, id: number, buf: Buffer, s: number, e: number): void {
    const t = this.target;
    if (flags & F.PADDED) {
      if (e - s < 1) return t.fail(F.FRAME_SIZE_ERROR);
      e -= buf[s++]!;
    }
    if (e < s) return t.fail(F.PROTOCOL_ERROR); // padding longer than the payload (6.2)
    if (flags & F.PRIORITY_FLAG) {
      if (e - s < 5) return t.fail(F.FRAME_SIZE_ERROR);
      // RFC 7540 5.3.1: a stream cannot depend on itself (a stream error; nghttp2 makes it a connection error, as here)
      if ((buf.readUInt32BE(s) & 0x7fffffff) === id) return t.fail(F.PROTOCOL_ERROR);
      s += 5;
    }
    const end = (flags & F.END_STREAM) !== 0;
    if (flags & F.END_HEADERS) return this.decode(id, end, buf, s, e);
    if (e - s > t.options.maxHeaderListBytes) return t.calm(null, 'header block too large');
    this.blockId = id;
    this.blockEnd = end;
    this.block.push(Buffer.from(buf.subarray(s, e)));
    this.blockLen = e - s;
    this.continuations = 0;
  }

  /** continuation: a CONTINUATION frame; only the block's own stream may send one, and only inside a block (6.10) */
  continuation(flags: number, id: number, buf: Buffer, s: number, e: number): void {
    const t = this.target;
    if (this.blockId === 0 || id !== this.blockId) return t.fail(F.PROTOCOL_ERROR);
    this.blockLen += e - s;
    // the CONTINUATION flood: a block that never ends, or ends only after too many frames
    if (this.blockLen > t.options.maxHeaderListBytes + F.MAX_FRAME_BYTES || ++this.continuations > MAX_CONTINUATIONS) return t.calm(null, 'CONTINUATION flood');
    this.block.push(Buffer.from(buf.subarray(s, e)));
    if ((flags & F.END_HEADERS) === 0) return;
    const whole = Buffer.concat(this.block, this.blockLen);
    this.block.length = 0;
    this.blockId = 0;
    this.decode(id, this.blockEnd, whole, 0, whole.length);
  }

  /** decode decodes a complete block into `fields` and hands it on (a decoding error is COMPRESSION_ERROR, 4.3) */
  private decode(id: number, endStream: boolean, buf: Buffer, s: number, e: number): void {
    this.fields.length = 0;
    this.malformed = false;
    this.seen = 0;
    const r = this.decoder.decode(buf, s, e, this);
    if (r === Decoded.Error) return this.target.fail(F.COMPRESSION_ERROR);
    this.target.headerBlock(id, endStream, r === Decoded.TooLarge);
  }

  /** field: one decoded field of the block being handled (FieldSink) */
  field(name: string, value: string): void {
    this.fields.push(name, value);
    if (this.malformed) return;
    if (!validField(name, value)) {
      this.malformed = true;
      return;
    }
    if (name.charCodeAt(0) === 0x3a /* : */) {
      const bit = pseudo(name);
      // unknown (or :status, a response's), repeated, or after a regular field (8.3)
      if (bit === 0 || (this.seen & (bit | REGULAR)) !== 0) this.malformed = true;
      else if (bit === PATH && value === '') this.malformed = true; // 8.3.1
      this.seen |= bit === METHOD && value === 'CONNECT' ? bit | CONNECT : bit;
      return;
    }
    this.seen |= REGULAR;
    if (connectionSpecific(name, value)) this.malformed = true;
  }

  /** validRequest: the block just decoded is a well-formed request head (8.3.1, 8.5) */
  get validRequest(): boolean {
    const s = this.seen;
    if (this.malformed || (s & METHOD) === 0) return false;
    // CONNECT (8.5): :authority, no :scheme or :path; extended CONNECT (RFC 8441 4) carries all of them and :protocol
    if ((s & (CONNECT | PROTOCOL)) === CONNECT) return (s & AUTHORITY) !== 0 && (s & (SCHEME | PATH)) === 0;
    return (s & (SCHEME | PATH)) === (SCHEME | PATH);
  }

  /** validTrailers: the block just decoded is well-formed trailers (8.1: no pseudo-header field) */
  get validTrailers(): boolean {
    return !this.malformed && (this.seen & PSEUDO) === 0;
  }
}

function pseudo(name: string): number {
  switch (name) {
    case ':method':
      return METHOD;
    case ':scheme':
      return SCHEME;
    case ':authority':
      return AUTHORITY;
    case ':path':
      return PATH;
    case ':protocol':
      return PROTOCOL;
    default:
      return 0;
  }
}

/** connectionSpecific: a field RFC 9113 8.2.2 forbids in HTTP/2 (TE only as "trailers") */
function connectionSpecific(name: string, value: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te' && value !== 'trailers';
    case 7:
      return name === 'upgrade';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    default:
      return false;
  }
}
