/**
 * ResponseParser is a strict, incremental HTTP/1.1 response parser that does only what a proxy
 * needs: status line, header fields (kept as received, for relaying), body framing
 * (Content-Length, chunked, close-delimited, none) and chunked decoding. Anything ambiguous is an
 * error, because a response the proxy reads one way and the client another is how desync and
 * cache poisoning start:
 *   - bare LF line ends, obs-fold, whitespace before a colon, control characters in values;
 *   - differing Content-Length values, non-numeric lengths, Transfer-Encoding other than "chunked";
 *   - status codes outside 100-599, heads over maxHeadBytes, more than maxHeaders fields;
 *   - chunk sizes that are not hex, too long, or not followed by CRLF.
 * The caller owns the bytes: feed() reads them synchronously and copies only a partial head.
 * This file holds the state machine and the body framing (RFC 9112 6, 7.1 chunked coding); the
 * head's grammar and the framing it decides are in response-head.ts.
 */
import { Framing, HeaderKind, readHead } from './response-head.js';

export { Framing, HeaderKind };

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkExt,
  ChunkSizeLf,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailer,
  Close,
  Done,
  /** a 101 to an upgrade request: what follows is the new protocol's bytes (see switchedAt) */
  Switched,
  Error,
}

export interface ResponseSink {
  /** the head is complete; return false to stop parsing (the sink has given up on the response) */
  onResponseHead(p: ResponseParser): boolean;
  /** a piece of the body; the bytes are valid only during the call (copy what you keep) */
  onResponseBody(buf: Buffer, start: number, end: number): void;
  /**
   * an interim (1xx) response other than 101, complete (statusCode, reason, headers, kinds as for
   * a final one); the final response follows. RFC 9110 15.2: a proxy forwards them (103 Early
   * Hints, 102 Processing); never stored by a cache.
   */
  onInterim?(p: ResponseParser): void;
  /** the body is complete (not called for close-delimited bodies before EOF) */
  onResponseEnd(): void;
  /** the response is malformed; nothing more is delivered */
  onResponseError(reason: string): void;
}

const CR = 13;
const LF = 10;
/** the end of a head, as bytes: a string needle is converted on every indexOf call */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILER_BYTES = 16384;

export class ResponseParser {
  statusCode = 0;
  reason = '';
  /** 0 or 1 for HTTP/1.0 and HTTP/1.1 */
  minorVersion = 1;
  /** flat [name, value, name, value, ...] as received (names not lowercased) */
  readonly headers: (string | Buffer)[] = [];
  /** HeaderKind per header (headers.length / 2 entries) */
  readonly kinds: HeaderKind[] = [];
  framing: Framing = Framing.None;
  /** body length for Framing.Length */
  contentLength = -1;
  /** may the connection carry another request after this response? */
  keepAlive = true;
  /** tokens from the Connection header other than close/keep-alive (lowercased), or null */
  connectionTokens: string[] | null = null;
  /** the server sent bytes after the end of the response */
  trailingGarbage = false;
  /** bytes of body delivered so far */
  bodyBytes = 0;
  /**
   * The request asked to switch protocols (a WebSocket tunnel, proxy/tunnel.ts): a 101 is its
   * answer, not an error. After it the parser stops; onResponseHead runs with switchedAt set to
   * the offset, in the buffer being fed, of the first byte after the 101's head.
   */
  upgrade = false;
  switchedAt = -1;

  private state = State.Head;
  private head: Buffer | null = null;
  private headLen = 0;
  private remaining = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private trailerLineEmpty = true;
  private sawCr = false;
  private isHeadRequest = false;

  constructor(
    private readonly sink: ResponseSink,
    private readonly maxHeadBytes = 65536,
    private readonly maxHeaders = 200,
  ) {}

  /** reset prepares for the response to a new request. */
  reset(isHeadRequest: boolean): void {
    this.statusCode = 0;
    this.reason = '';
    this.minorVersion = 1;
    this.headers.length = 0;
    this.kinds.length = 0;
    this.framing = Framing.None;
    this.contentLength = -1;
    this.keepAlive = true;
    this.connectionTokens = null;
    this.trailingGarbage = false;
    this.bodyBytes = 0;
    this.state = State.Head;
    this.headLen = 0;
    this.isHeadRequest = isHeadRequest;
  }

  get started(): boolean {
    return this.state !== State.Head || this.headLen > 0;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  get failed(): boolean {
    return this.state === State.Error;
  }

  /** finish is called at EOF; returns true when the EOF ended the response cleanly. */
  finish(): boolean {
    if (this.state === State.Close) {
      this.state = State.Done;
      this.sink.onResponseEnd();
      return true;
    }
    return this.state === State.Done;
  }

  /** feed parses buf[start, end). */
  feed(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case State.Head:
          i = this.feedHead(buf, i, end);
          if ((this.state as State) === State.Switched) {
            this.switchedAt = i;
            this.sink.onResponseHead(this);
            return;
          }
          break;
        case State.Length: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          this.bodyBytes += n;
          this.sink.onResponseBody(buf, i, i + n);
          i += n;
          if (this.remaining === 0) this.complete();
          break;
        }
        case State.Close: {
          this.bodyBytes += end - i;
          this.sink.onResponseBody(buf, i, end);
          return;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          this.bodyBytes += n;
          this.sink.onResponseBody(buf, i, i + n);
          i += n;
          if (this.remaining === 0) this.state = State.ChunkDataCr;
          break;
        }
        case State.ChunkSize:
        case State.ChunkExt:
        case State.ChunkSizeLf:
        case State.ChunkDataCr:
        case State.ChunkDataLf:
        case State.Trailer:
          if (!this.chunkByte(buf[i]!)) return;
          i++;
          break;
        case State.Done:
          // bytes after a complete response: the connection cannot be trusted any more
          this.trailingGarbage = true;
          this.keepAlive = false;
          return;
        case State.Switched:
        case State.Error:
          return;
      }
    }
  }

  private fail(reason: string): void {
    this.state = State.Error;
    this.keepAlive = false;
    this.sink.onResponseError(reason);
  }

  private complete(): void {
    this.state = State.Done;
    this.sink.onResponseEnd();
  }

  // ---- head -------------------------------------------------------------------------------

  private feedHead(buf: Buffer, start: number, end: number): number {
    if (this.headLen === 0) {
      const at = buf.indexOf(HEAD_END, start);
      if (at !== -1 && at < end) {
        const headEnd = at + 4;
        if (headEnd - start > this.maxHeadBytes) {
          this.fail('response head too large');
          return end;
        }
        return this.parseHead(buf, start, headEnd) ? headEnd : end;
      }
      // partial head: keep a copy
      this.appendHead(buf, start, end);
      return end;
    }
    // continue a partial head: look for the terminator across the boundary
    const prevLen = this.headLen;
    this.appendHead(buf, start, end);
    if (this.state === State.Error) return end;
    const from = Math.max(0, prevLen - 3);
    const at = this.head!.indexOf(HEAD_END, from);
    if (at === -1 || at >= this.headLen) return end;
    const headEnd = at + 4;
    const consumed = headEnd - prevLen; // bytes of this buf that belong to the head
    this.headLen = 0;
    return this.parseHead(this.head!, 0, headEnd) ? start + consumed : end;
  }

  private appendHead(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.headLen + n > this.maxHeadBytes) {
      this.fail('response head too large');
      return;
    }
    if (!this.head || this.head.length < this.headLen + n) {
      const next = Buffer.allocUnsafe(Math.min(this.maxHeadBytes, Math.max(4096, (this.headLen + n) * 2)));
      if (this.head && this.headLen) this.head.copy(next, 0, 0, this.headLen);
      this.head = next;
    }
    buf.copy(this.head, this.headLen, start, end);
    this.headLen += n;
  }

  /** parseHead parses buf[start, end) which ends with CRLFCRLF; false when it failed. */
  private parseHead(buf: Buffer, start: number, end: number): boolean {
    const refused = readHead(this, buf, start, end, this.maxHeaders, this.isHeadRequest);
    if (refused !== null) {
      this.fail(refused);
      return false;
    }

    // 1xx: informational, skip and parse the real response (101 only answers an upgrade)
    if (this.statusCode < 200) {
      if (this.statusCode === 101) {
        if (!this.upgrade) {
          this.fail('unexpected 101 Switching Protocols');
          return false;
        }
        this.framing = Framing.None;
        this.keepAlive = false;
        this.state = State.Switched; // feed() tells the sink, with the offset of what follows
        return true;
      }
      this.sink.onInterim?.(this);
      this.headers.length = 0;
      this.kinds.length = 0;
      this.keepAlive = true;
      this.connectionTokens = null;
      this.state = State.Head;
      this.headLen = 0;
      return true;
    }

    if (!this.sink.onResponseHead(this)) {
      this.state = State.Error;
      return false;
    }
    switch (this.framing) {
      case Framing.None:
        this.complete();
        break;
      case Framing.Length:
        this.remaining = this.contentLength;
        this.state = State.Length;
        if (this.remaining === 0) this.complete();
        break;
      case Framing.Chunked:
        this.state = State.ChunkSize;
        this.remaining = 0;
        this.lineBytes = 0;
        break;
      case Framing.Close:
        this.state = State.Close;
        break;
    }
    return true;
  }

  // ---- chunked ----------------------------------------------------------------------------

  /** chunkByte advances the chunked-framing state machine by one byte; false on error. */
  private chunkByte(c: number): boolean {
    switch (this.state) {
      case State.ChunkSize: {
        if (++this.lineBytes > 16) return this.chunkFail('chunk size too long');
        const h = hexVal(c);
        if (h >= 0) {
          this.remaining = this.remaining * 16 + h;
          return true;
        }
        if (this.lineBytes === 1) return this.chunkFail('invalid chunk size');
        if (c === CR) {
          this.state = State.ChunkSizeLf;
          return true;
        }
        if (c === 0x3b /* ; */ || c === 0x20 || c === 9) {
          this.state = State.ChunkExt;
          return true;
        }
        return this.chunkFail('invalid chunk size');
      }
      case State.ChunkExt:
        if (++this.lineBytes > MAX_CHUNK_LINE) return this.chunkFail('chunk extension too long');
        if (c === CR) this.state = State.ChunkSizeLf;
        else if ((c < 0x20 && c !== 9) || c === 0x7f) return this.chunkFail('invalid chunk extension');
        return true;
      case State.ChunkSizeLf:
        if (c !== LF) return this.chunkFail('invalid chunk line end');
        this.lineBytes = 0;
        if (this.remaining === 0) {
          this.state = State.Trailer;
          this.trailerBytes = 0;
          this.trailerLineEmpty = true;
          this.sawCr = false;
        } else {
          if (this.remaining > Number.MAX_SAFE_INTEGER) return this.chunkFail('chunk too large');
          this.state = State.ChunkData;
        }
        return true;
      case State.ChunkDataCr:
        if (c !== CR) return this.chunkFail('missing CRLF after chunk data');
        this.state = State.ChunkDataLf;
        return true;
      case State.ChunkDataLf:
        if (c !== LF) return this.chunkFail('missing CRLF after chunk data');
        this.state = State.ChunkSize;
        this.remaining = 0;
        this.lineBytes = 0;
        return true;
      case State.Trailer:
        // trailer fields are read and dropped; an empty line ends the message
        if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.chunkFail('trailers too large');
        if (this.sawCr) {
          if (c !== LF) return this.chunkFail('bare CR in trailers');
          this.sawCr = false;
          if (this.trailerLineEmpty) {
            this.complete();
            return true;
          }
          this.trailerLineEmpty = true;
          return true;
        }
        if (c === CR) {
          this.sawCr = true;
          return true;
        }
        if (c === LF || c === 0 || c === 0x7f) return this.chunkFail('invalid trailer');
        this.trailerLineEmpty = false;
        return true;
      default:
        return false;
    }
  }

  private chunkFail(reason: string): false {
    this.fail(reason);
    return false;
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
