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
 */

export const enum Framing {
  None = 0,
  Length = 1,
  Chunked = 2,
  Close = 3,
}

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

/** Header kinds the proxy treats specially; everything else is relayed as it is. */
export const enum HeaderKind {
  Other = 0,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  HopByHop,
  Date,
}

export interface ResponseSink {
  /** the head is complete; return false to stop parsing (the sink has given up on the response) */
  onResponseHead(p: ResponseParser): boolean;
  /** a piece of the body; the bytes are valid only during the call (copy what you keep) */
  onResponseBody(buf: Buffer, start: number, end: number): void;
  /** the body is complete (not called for close-delimited bodies before EOF) */
  onResponseEnd(): void;
  /** the response is malformed; nothing more is delivered */
  onResponseError(reason: string): void;
}

const CR = 13;
const LF = 10;
/** the end of a head, as bytes: a string needle is converted on every indexOf call */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Header names seen recently, by a hash of their bytes: a backend sends the same few names on
 * every response, and reusing the string (and its kind) saves a latin1 decode and, for the names
 * the proxy looks at, a toLowerCase per field. Bounded (NAME_SLOTS entries, replaced on collision).
 */
interface NameEntry {
  bytes: Uint8Array;
  name: string;
  kind: HeaderKind;
}
const NAME_SLOTS = 512;
const names: (NameEntry | undefined)[] = new Array<NameEntry | undefined>(NAME_SLOTS);
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
    // status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
    const lineEnd = buf.indexOf(LF, start);
    if (
      lineEnd - start < 13 ||
      buf[lineEnd - 1] !== CR ||
      buf[start] !== 0x48 ||
      buf[start + 1] !== 0x54 ||
      buf[start + 2] !== 0x54 ||
      buf[start + 3] !== 0x50 ||
      buf[start + 4] !== 0x2f ||
      buf[start + 5] !== 0x31 ||
      buf[start + 6] !== 0x2e ||
      (buf[start + 7] !== 0x31 && buf[start + 7] !== 0x30) ||
      buf[start + 8] !== 0x20
    ) {
      this.fail('invalid status line');
      return false;
    }
    this.minorVersion = buf[start + 7] === 0x31 ? 1 : 0;
    const d0 = buf[start + 9]! - 48,
      d1 = buf[start + 10]! - 48,
      d2 = buf[start + 11]! - 48;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      this.fail('invalid status code');
      return false;
    }
    this.statusCode = d0 * 100 + d1 * 10 + d2;
    const reasonStart = start + 12;
    const reasonEnd = lineEnd - 1;
    if (reasonStart < reasonEnd) {
      if (buf[reasonStart] !== 0x20) {
        this.fail('invalid status line');
        return false;
      }
      for (let j = reasonStart + 1; j < reasonEnd; j++) {
        const c = buf[j]!;
        if ((c < 0x20 && c !== 9) || c === 0x7f) {
          this.fail('invalid reason phrase');
          return false;
        }
      }
      this.reason = buf.toString('latin1', reasonStart + 1, reasonEnd);
    } else {
      this.reason = '';
    }

    // header fields
    let p = lineEnd + 1;
    let cl = -1;
    let te = false;
    let count = 0;
    const last = end - 2; // the final CRLF
    while (p < last) {
      // the line end, found here: header lines are short, and a call into C++ per line costs more
      let le = p;
      while (le < end && buf[le] !== LF) le++;
      if (le >= end || buf[le - 1] !== CR) {
        this.fail('bare LF or unterminated header line');
        return false;
      }
      if (++count > this.maxHeaders) {
        this.fail('too many response headers');
        return false;
      }
      const first = buf[p]!;
      if (first === 0x20 || first === 9) {
        this.fail('obs-fold in response header');
        return false;
      }
      let colon = p;
      let h = 0;
      for (; colon < le; colon++) {
        const c = buf[colon]!;
        if (TCHAR[c] !== 1) break;
        h = (Math.imul(h, 31) + c) | 0;
      }
      if (colon === p || buf[colon] !== 0x3a) {
        this.fail('invalid header name');
        return false;
      }
      let vs = colon + 1;
      let ve = le - 1;
      while (vs < ve && (buf[vs] === 0x20 || buf[vs] === 9)) vs++;
      while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 9)) ve--;
      let high = false;
      for (let j = vs; j < ve; j++) {
        const c = buf[j]!;
        if (c < 0x20) {
          if (c !== 9) {
            this.fail('control character in header value');
            return false;
          }
        } else if (c === 0x7f) {
          this.fail('control character in header value');
          return false;
        } else if (c > 0x7f) high = true;
      }
      const slot = (h ^ (h >>> 9)) & (NAME_SLOTS - 1);
      let entry = names[slot];
      if (entry === undefined || !sameBytes(entry.bytes, buf, p, colon)) {
        const n = buf.toString('latin1', p, colon);
        entry = { bytes: Uint8Array.prototype.slice.call(buf, p, colon), name: n, kind: classify(n) };
        names[slot] = entry;
      }
      const name = entry.name;
      const kind = entry.kind;
      // obs-text is relayed as the exact bytes (a latin1 string would be re-encoded as UTF-8)
      const value: string | Buffer = high ? Buffer.from(buf.subarray(vs, ve)) : buf.toString('latin1', vs, ve);
      switch (kind) {
        case HeaderKind.ContentLength: {
          const n = parseContentLength(value as string);
          if (n < 0 || (cl !== -1 && cl !== n)) {
            this.fail('invalid or conflicting Content-Length');
            return false;
          }
          cl = n;
          break;
        }
        case HeaderKind.TransferEncoding:
          if (te || (value as string).trim().toLowerCase() !== 'chunked' || this.minorVersion === 0) {
            this.fail('unsupported Transfer-Encoding');
            return false;
          }
          te = true;
          break;
        case HeaderKind.Connection:
          this.parseConnection(value as string);
          break;
      }
      this.headers.push(name, value);
      this.kinds.push(kind);
      p = le + 1;
    }
    if (this.minorVersion === 0) this.keepAlive = false;

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
      this.headers.length = 0;
      this.kinds.length = 0;
      this.keepAlive = true;
      this.connectionTokens = null;
      this.state = State.Head;
      this.headLen = 0;
      return true;
    }

    if (this.isHeadRequest || this.statusCode === 204 || this.statusCode === 304) {
      this.framing = Framing.None;
      this.contentLength = cl;
    } else if (te) {
      this.framing = Framing.Chunked;
      // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; such a message is suspect
      if (cl !== -1) this.keepAlive = false;
      this.contentLength = -1;
    } else if (cl !== -1) {
      this.framing = Framing.Length;
      this.contentLength = cl;
    } else {
      this.framing = Framing.Close;
      this.keepAlive = false;
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

  private parseConnection(v: string): void {
    for (const raw of v.split(',')) {
      const t = raw.trim().toLowerCase();
      if (t === 'close') this.keepAlive = false;
      else if (t === 'keep-alive' || t === '') continue;
      else (this.connectionTokens ??= []).push(t);
    }
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

/** sameBytes tells whether buf[start, end) holds exactly the bytes of b. */
function sameBytes(b: Uint8Array, buf: Buffer, start: number, end: number): boolean {
  if (b.length !== end - start) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== buf[start + i]) return false;
  return true;
}

/** tchar per RFC 9110 5.6.2 */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** parseContentLength accepts "42" and "42, 42"; returns -1 when invalid or inconsistent. */
export function parseContentLength(v: string): number {
  let n = -1;
  let cur = -1;
  for (let i = 0; i <= v.length; i++) {
    const c = i < v.length ? v.charCodeAt(i) : 44;
    if (c >= 48 && c <= 57) {
      cur = cur === -1 ? c - 48 : cur * 10 + (c - 48);
      if (cur > Number.MAX_SAFE_INTEGER) return -1;
    } else if (c === 44 /* , */) {
      if (cur === -1 || (n !== -1 && n !== cur)) return -1;
      n = cur;
      cur = -1;
      while (i + 1 < v.length && (v.charCodeAt(i + 1) === 32 || v.charCodeAt(i + 1) === 9)) i++;
    } else return -1;
  }
  return n;
}

/** classify maps a header name to the kind the proxy cares about (case-insensitive). */
export function classify(name: string): HeaderKind {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te' ? HeaderKind.HopByHop : HeaderKind.Other;
    case 4:
      return name.toLowerCase() === 'date' ? HeaderKind.Date : HeaderKind.Other;
    case 7: {
      const l = name.toLowerCase();
      return l === 'upgrade' || l === 'trailer' ? HeaderKind.HopByHop : HeaderKind.Other;
    }
    case 10: {
      const l = name.toLowerCase();
      return l === 'connection' ? HeaderKind.Connection : l === 'keep-alive' ? HeaderKind.KeepAlive : HeaderKind.Other;
    }
    case 14:
      return name.toLowerCase() === 'content-length' ? HeaderKind.ContentLength : HeaderKind.Other;
    case 16:
      return name.toLowerCase() === 'proxy-connection' ? HeaderKind.HopByHop : HeaderKind.Other;
    case 17:
      return name.toLowerCase() === 'transfer-encoding' ? HeaderKind.TransferEncoding : HeaderKind.Other;
    case 18:
      return name.toLowerCase() === 'proxy-authenticate' ? HeaderKind.HopByHop : HeaderKind.Other;
    case 19:
      return name.toLowerCase() === 'proxy-authorization' ? HeaderKind.HopByHop : HeaderKind.Other;
    default:
      return HeaderKind.Other;
  }
}
