/**
 * RequestParser is fulcrum's strict, incremental HTTP/1.1 request parser (RFC 9112), in the style
 * of the upstream response parser (src/worker/upstream/response-parser.ts): callbacks to one sink
 * object, no allocation per byte, each string (method, target, field name and value) copied out of
 * the caller's bytes once. Complete lines are parsed as they arrive; only an unfinished line is
 * copied (into a buffer the parser keeps), so a head split over reads costs one small copy.
 *
 * What a request may look like, and what is refused (status, then the connection closes: after an
 * error the parser stays failed and nothing after it is ever parsed):
 *   - request line: a token method, one SP, the target, one SP, HTTP/1.0 or HTTP/1.1, CRLF. Other
 *     well-formed versions: 505; anything else: 400. Leading empty lines are skipped (RFC 9112 2.2).
 *   - target: origin-form ("/p?q", kept byte for byte, "?" included); absolute-form (scheme http or
 *     https, no userinfo: the path and query become the target and the authority replaces Host,
 *     RFC 9112 3.2.2); authority-form only with CONNECT (405 unless `connect` is set); "*" only
 *     with OPTIONS. Only VCHAR bytes, without "#" (HAProxy since 2.8.2 refuses "#" too: a
 *     fragment never belongs in a request; llhttp's strict mode refuses bytes >= 0x80, as here).
 *   - fields: tchar names, no whitespace before the colon, no obs-fold (RFC 9112 5.1, 5.2), no
 *     CTL in values but HTAB (NUL, CR, LF and DEL included, RFC 9110 5.5); a line without a colon
 *     is 400; CRLF line ends only (a bare LF is 400, as llhttp's strict mode; nginx accepts it).
 *     Values with bytes >= 0x80 are decoded as UTF-8, and must be valid UTF-8 (the proxy writes
 *     heads as UTF-8 strings: anything else could not be relayed byte for byte).
 *   - Host: exactly one on HTTP/1.1, at most one on HTTP/1.0, with a valid uri-host [":" port]
 *     (RFC 9112 3.2); an empty one is 400 too (as nginx: there is nothing to route on).
 *   - framing (RFC 9112 6.1-6.3): one Content-Length, digits only: a second one, even equal, or a
 *     list ("5, 5") is 400 (RFC 9110 8.6 allows either; nginx refuses duplicates, and a proxy
 *     that forwards one value must not guess); Transfer-Encoding with Content-Length,
 *     on HTTP/1.0, or without "chunked" as the final coding: 400; a coding before chunked (gzip,
 *     chunked): 501, as nginx and RFC 9112 6.1 (fulcrum cannot decode it for the server).
 *   - chunked (the framing in http1-chunked.ts): hex sizes, extensions parsed by their grammar (RFC 9112 7.1.1) and dropped, exactly
 *     CRLF after each chunk's data, trailer fields checked like header fields and dropped.
 *   - limits: a target over maxUrlBytes: 414; more than maxHeaders fields, or more than
 *     maxHeaderBytes counted as name + value + 4 per field: 431; a body over maxBodyBytes: 413
 *     (from Content-Length at once, and while a chunked body streams).
 *   - Expect: "100-continue" is noted (HTTP/1.1 only, RFC 9110 10.1.1), anything else is 417.
 */
import { isUtf8 } from 'node:buffer';
import { ChunkEvent, ChunkFraming } from './http1-chunked.js';
import * as G from './http1-syntax.js';

/** the request body's length: 0, a Content-Length, or BODY_UNKNOWN (chunked) (as exchange.ts) */
const BODY_UNKNOWN = -1;

export interface RequestLimits {
  maxUrlBytes: number;
  maxHeaders: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  /** hand CONNECT (authority-form) requests over; false: 405 */
  connect: boolean;
}

export interface RequestSink {
  /** a head is complete and valid; return false to stop (feed returns the offset after the head) */
  onRequestHead(p: RequestParser): boolean;
  /** a piece of the decoded body (valid during the call); `last` on the final one; false: stop after it */
  onRequestBody(buf: Buffer, start: number, end: number, last: boolean): boolean;
  /** the request is invalid: answer `status` and close; nothing more is parsed */
  onRequestError(status: number, reason: string): void;
}

const enum State {
  Lines,
  Length,
  /** chunk framing bytes (ChunkFraming) */
  ChunkLine,
  ChunkData,
  Error,
}

/** which lines State.Lines is reading */
const enum Phase {
  RequestLine,
  Fields,
  Trailers,
}

/** what a line did: go on with lines, leave State.Lines (a body starts), or stop feeding */
const enum Line {
  More,
  Switch,
  Stop,
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** slack over the configured limits for one unfinished line: the method, version and OWS */
const LINE_SLACK = 1024;

export class RequestParser {
  // ---- the request whose head was parsed last (read them in onRequestHead) -----------------
  /** method and target stay set until that request is over ('' after), so that an error answer can name them */
  method = '';
  target = '';
  /** 0 or 1: HTTP/1.0 or HTTP/1.1 */
  minorVersion = 1;
  /** [name, value, ...], names lowercase; a new array per request (the sink keeps it) */
  fields: string[] = [];
  /** 0, a Content-Length, or -1 (chunked) */
  bodyLength = 0;
  /** the client allows another request on the connection (HTTP/1.1 without close, 1.0 with keep-alive) */
  keepAlive = true;
  /** Expect: 100-continue on HTTP/1.1 */
  expectContinue = false;
  /** Upgrade with Connection: upgrade on HTTP/1.1, no body: the connection changes protocol after a 101 */
  upgrade = false;
  /** CONNECT host:port (only with limits.connect) */
  connect = false;
  /** decoded body bytes of the current request so far */
  bodyBytes = 0;

  private state = State.Lines;
  private phase = Phase.RequestLine;
  private carry: Buffer | null = null;
  private carryLen = 0;
  /** bytes of the head (or trailers) seen so far: leading empty lines count */
  private leadBytes = 0;
  private count = 0;
  private countBytes = 0;
  private hosts = 0;
  private hostAt = -1;
  private absoluteHost: string | null = null;
  private cl = -1;
  private te = 0;
  private teChunkedLast = false;
  private teOther = false;
  private connClose = false;
  private connKeepAlive = false;
  private connUpgrade = false;
  private hasUpgrade = false;
  private expectOther = false;
  private remaining = 0;
  private readonly chunk = new ChunkFraming();
  /** where feedLines stopped */
  private linesAt = 0;

  constructor(
    private readonly sink: RequestSink,
    public limits: RequestLimits,
  ) {}

  /** a head has begun (bytes of it were consumed) and is not complete yet */
  get inHead(): boolean {
    return this.state === State.Lines && this.phase !== Phase.Trailers && (this.phase === Phase.Fields || this.carryLen > 0 || this.leadBytes > 0);
  }

  /** a request body is being read */
  get inBody(): boolean {
    return this.state !== State.Lines ? this.state !== State.Error : this.phase === Phase.Trailers;
  }

  get failed(): boolean {
    return this.state === State.Error;
  }

  /** fail stops parsing for good (the connection gave up: a timeout, a limit of its own). */
  fail(): void {
    this.state = State.Error;
  }

  /** feed parses buf[start, end); returns where it stopped (end, or after a head/body piece the sink stopped at). */
  feed(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case State.Lines: {
          const r = this.feedLines(buf, i, end);
          i = this.linesAt;
          if (r === Line.Stop) return i;
          break;
        }
        case State.Length: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          this.bodyBytes += n;
          const last = this.remaining === 0;
          if (last) this.startRequest();
          const go = this.sink.onRequestBody(buf, i, i + n, last);
          i += n;
          if (!go) return i;
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          this.bodyBytes += n;
          if (this.remaining === 0) {
            this.state = State.ChunkLine;
            this.chunk.afterData();
          }
          const go = this.sink.onRequestBody(buf, i, i + n, false);
          i += n;
          if (!go) return i;
          break;
        }
        case State.ChunkLine: {
          const ev = this.chunk.byte(buf[i]!, this.limits.maxBodyBytes - this.bodyBytes);
          i++;
          if (ev === ChunkEvent.Data) {
            this.remaining = this.chunk.size;
            this.state = State.ChunkData;
          } else if (ev === ChunkEvent.Last) {
            this.state = State.Lines;
            this.phase = Phase.Trailers;
            this.count = this.countBytes = 0;
          } else if (ev === ChunkEvent.Error) {
            this.error(this.chunk.status, this.chunk.reason);
            return end;
          }
          break;
        }
        default: // State.Error
          return end;
      }
    }
    return i;
  }

  // ---- lines: request line, fields, trailers ------------------------------------------------

  private feedLines(buf: Buffer, i: number, end: number): Line {
    while (i < end) {
      if (this.carryLen > 0) {
        // finish the line begun in an earlier read
        const lf = buf.indexOf(LF, i);
        if (lf === -1 || lf >= end) {
          this.linesAt = end;
          return this.keep(buf, i, end) ? Line.More : Line.Stop;
        }
        if (!this.keep(buf, i, lf + 1)) {
          this.linesAt = end;
          return Line.Stop;
        }
        i = lf + 1;
        const n = this.carryLen;
        this.carryLen = 0;
        const r = this.line(this.carry!, 0, n - 1);
        if (r !== Line.More) {
          this.linesAt = r === Line.Stop && this.state === State.Error ? end : i;
          return r;
        }
        continue;
      }
      let le = i;
      while (le < end && buf[le] !== LF) le++;
      if (le === end) {
        this.linesAt = end;
        return this.keep(buf, i, end) ? Line.More : Line.Stop;
      }
      const r = this.line(buf, i, le);
      i = le + 1;
      if (r !== Line.More) {
        this.linesAt = r === Line.Stop && this.state === State.Error ? end : i;
        return r;
      }
    }
    this.linesAt = i;
    return Line.More;
  }

  /** keep copies an unfinished line; false (after failing) when it is longer than any valid line. */
  private keep(buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    if (n === 0) return true;
    const total = this.carryLen + n;
    const limits = this.limits;
    if (this.phase === Phase.RequestLine) {
      if (total + this.leadBytes > limits.maxUrlBytes + LINE_SLACK) return this.error(414, 'request line too long');
    } else if (total > limits.maxHeaderBytes + LINE_SLACK) return this.error(431, 'header field too large');
    if (this.carry === null || this.carry.length < total) {
      const next = Buffer.allocUnsafe(Math.max(1024, total * 2));
      if (this.carry !== null && this.carryLen > 0) this.carry.copy(next, 0, 0, this.carryLen);
      this.carry = next;
    }
    buf.copy(this.carry, this.carryLen, start, end);
    this.carryLen = total;
    return true;
  }

  /** line parses one line: b[start, lf) where b[lf] is its LF. */
  private line(b: Buffer, start: number, lf: number): Line {
    if (lf === start || b[lf - 1] !== CR) return this.stop(400, 'bare LF');
    const end = lf - 1; // the CR
    switch (this.phase) {
      case Phase.RequestLine:
        if (end === start) {
          // RFC 9112 2.2: an empty line before the request line is skipped (clients that send an extra CRLF after a body)
          this.leadBytes += 2;
          if (this.leadBytes > LINE_SLACK) this.error(400, 'too many empty lines');
          return this.state === State.Error ? Line.Stop : Line.More;
        }
        return this.requestLine(b, start, end) ? Line.More : Line.Stop;
      case Phase.Fields:
        if (end === start) return this.headDone();
        return this.fieldLine(b, start, end, true) ? Line.More : Line.Stop;
      default:
        if (end === start) {
          // the end of the trailers: the request is complete
          this.startRequest();
          return this.sink.onRequestBody(b, start, start, true) ? Line.Switch : Line.Stop;
        }
        return this.fieldLine(b, start, end, false) ? Line.More : Line.Stop;
    }
  }

  private requestLine(b: Buffer, start: number, end: number): boolean {
    this.resetHead();
    let i = start;
    while (i < end && G.TCHAR[b[i]!] === 1) i++;
    if (i === start || b[i] !== SP) return this.error(400, 'invalid method');
    const method = G.methodName(b, start, i);
    const t0 = ++i;
    for (; i < end; i++) {
      const c = b[i]!;
      if (c === SP) break;
      if (c < 0x21 || c > 0x7e || c === 0x23) return this.error(400, 'invalid character in the request target');
    }
    if (i === t0) return this.error(400, 'invalid request line');
    if (i - t0 > this.limits.maxUrlBytes) return this.error(414, 'request target too long');
    if (i === end) return this.error(400, 'no HTTP version');
    const t1 = i++;
    const minor = G.httpMinorVersion(b, i, end);
    if (minor === G.VERSION_INVALID) return this.error(400, 'invalid HTTP version');
    if (minor === G.VERSION_UNSUPPORTED) return this.error(505, 'HTTP version not supported');
    this.minorVersion = minor;
    this.method = method;
    return this.targetForm(b, t0, t1);
  }

  /** targetForm classifies the request target (RFC 9112 3.2) and sets `target`. */
  private targetForm(b: Buffer, t0: number, t1: number): boolean {
    const method = this.method;
    const first = b[t0]!;
    if (method === 'CONNECT') {
      if (first === 0x2f || !G.validHost(b.toString('latin1', t0, t1), true)) return this.error(400, 'CONNECT needs host:port');
      if (!this.limits.connect) return this.error(405, 'CONNECT not allowed');
      this.connect = true;
      this.target = b.toString('latin1', t0, t1);
      return true;
    }
    if (first === 0x2f) {
      this.target = b.toString('latin1', t0, t1);
      return true;
    }
    if (first === 0x2a && t1 === t0 + 1) {
      if (method !== 'OPTIONS') return this.error(400, 'asterisk-form is only for OPTIONS');
      this.target = '*';
      return true;
    }
    // absolute-form: http(s)://authority[path][?query]
    const t = b.toString('latin1', t0, t1);
    const m = G.ABSOLUTE_RE.exec(t);
    if (m === null) return this.error(400, 'invalid request target');
    const authority = m[1]!;
    if (authority.includes('@') || !G.validHost(authority, false) || authority === '') return this.error(400, 'invalid authority in the request target');
    const rest = m[2]!;
    this.absoluteHost = authority;
    this.target = rest === '' ? (method === 'OPTIONS' ? '*' : '/') : rest.charCodeAt(0) === 0x3f ? '/' + rest : rest;
    return true;
  }

  private fieldLine(b: Buffer, start: number, end: number, head: boolean): boolean {
    const c0 = b[start]!;
    if (c0 === SP || c0 === HTAB) return this.error(400, 'obs-fold or whitespace before a field');
    let i = start;
    let h = 0;
    for (; i < end; i++) {
      const c = b[i]!;
      if (G.TCHAR[c] !== 1) break;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (i === end || b[i] !== 0x3a) return this.error(400, i === end ? 'field line without a colon' : 'invalid field name');
    if (i === start) return this.error(400, 'empty field name');
    const nameEnd = i;
    let vs = i + 1;
    let ve = end;
    while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    let high = false;
    for (let j = vs; j < ve; j++) {
      const c = b[j]!;
      if (c < 0x20) {
        if (c !== HTAB) return this.error(400, 'control character in a field value');
      } else if (c >= 0x7f) {
        if (c === 0x7f) return this.error(400, 'control character in a field value');
        high = true;
      }
    }
    const limits = this.limits;
    if (++this.count > limits.maxHeaders) return this.error(431, head ? 'too many header fields' : 'too many trailer fields');
    this.countBytes += nameEnd - start + (ve - vs) + 4;
    if (this.countBytes > limits.maxHeaderBytes) return this.error(431, head ? 'header fields too large' : 'trailer fields too large');
    if (high && !isUtf8(b.subarray(vs, ve))) return this.error(400, 'field value is not UTF-8');
    if (!head) return true; // trailers are checked and dropped

    const entry = G.fieldName(h, b, start, nameEnd);
    const value = b.toString(high ? 'utf8' : 'latin1', vs, ve);
    switch (entry.kind) {
      case G.Kind.Host:
        this.hosts++;
        this.hostAt = this.fields.length + 1;
        break;
      case G.Kind.ContentLength:
        if (this.cl !== -1) return this.error(400, 'more than one Content-Length');
        this.cl = G.contentLength(value);
        if (this.cl < 0) return this.error(400, 'invalid Content-Length');
        break;
      case G.Kind.TransferEncoding:
        if (!this.transferEncoding(value)) return this.error(400, 'invalid Transfer-Encoding');
        break;
      case G.Kind.Connection:
        this.connection(value);
        break;
      case G.Kind.Expect:
        if (value.length === 12 && value.toLowerCase() === '100-continue') this.expectContinue = true;
        else this.expectOther = true;
        break;
      case G.Kind.Upgrade:
        this.hasUpgrade = true;
        break;
    }
    this.fields.push(entry.name, value);
    return true;
  }

  /** transferEncoding notes the codings of one Transfer-Encoding line; false when the list is malformed. */
  private transferEncoding(v: string): boolean {
    const before = this.te;
    let s = 0;
    for (let i = 0; i <= v.length; i++) {
      if (i < v.length && v.charCodeAt(i) !== 0x2c) continue;
      const t = v.slice(s, i).trim().toLowerCase();
      s = i + 1;
      if (t === '') continue; // RFC 9110 5.6.1: empty list elements are ignored
      if (this.teChunkedLast) return false; // anything after chunked, or chunked twice
      this.te++;
      if (t === 'chunked') this.teChunkedLast = true;
      else this.teOther = true;
    }
    return this.te > before; // a Transfer-Encoding line with no coding at all is malformed
  }

  private connection(v: string): void {
    const t = G.connectionTokens(v);
    if (t & G.CONN_CLOSE) this.connClose = true;
    if (t & G.CONN_KEEP_ALIVE) this.connKeepAlive = true;
    if (t & G.CONN_UPGRADE) this.connUpgrade = true;
  }

  /** headDone applies the head-wide rules and hands the head to the sink. */
  private headDone(): Line {
    const fields = this.fields;
    const v1 = this.minorVersion === 1;
    if (this.hosts > 1) return this.stop(400, 'more than one Host');
    if (this.hosts === 0 && v1) return this.stop(400, 'no Host');
    if (this.hosts === 1 && !G.validHost(fields[this.hostAt]!, false)) return this.stop(400, 'invalid Host');
    if (this.absoluteHost !== null) {
      // RFC 9112 3.2.2: the authority of an absolute-form target replaces Host
      if (this.hosts === 1) fields[this.hostAt] = this.absoluteHost;
      else fields.push('host', this.absoluteHost);
    }
    let bodyLength = 0;
    if (this.te > 0) {
      if (!v1) return this.stop(400, 'Transfer-Encoding on HTTP/1.0');
      if (this.cl !== -1) return this.stop(400, 'Transfer-Encoding with Content-Length');
      if (!this.teChunkedLast) return this.stop(400, 'chunked is not the final transfer coding');
      if (this.teOther) return this.stop(501, 'transfer coding not implemented');
      bodyLength = BODY_UNKNOWN;
    } else if (this.cl > 0) {
      if (this.cl > this.limits.maxBodyBytes) return this.stop(413, 'request body too large');
      bodyLength = this.cl;
    }
    if (v1 && this.expectOther) return this.stop(417, 'unsupported expectation');
    if (this.connect && bodyLength !== 0) return this.stop(400, 'CONNECT with a body');
    this.bodyLength = bodyLength;
    this.keepAlive = v1 ? !this.connClose : this.connKeepAlive && !this.connClose;
    if (!v1) this.expectContinue = false; // RFC 9110 10.1.1: ignored in HTTP/1.0 requests
    this.upgrade = v1 && this.hasUpgrade && this.connUpgrade && bodyLength === 0 && !this.connect;
    this.bodyBytes = 0;
    this.remaining = 0;
    if (bodyLength === 0) {
      this.phase = Phase.RequestLine;
      this.leadBytes = 0;
    } else if (bodyLength > 0) {
      this.state = State.Length;
      this.remaining = bodyLength;
    } else {
      this.state = State.ChunkLine;
      this.chunk.begin();
    }
    const go = this.sink.onRequestHead(this);
    this.fields = [];
    if (bodyLength === 0) this.method = this.target = ''; // handed over: an error from here is the next request's
    if (this.state === State.Error) return Line.Stop;
    if (!go) return Line.Stop;
    return bodyLength === 0 ? Line.More : Line.Switch;
  }

  private resetHead(): void {
    if (this.fields.length !== 0) this.fields = []; // after an error (a head handed over leaves a new array)
    this.count = this.countBytes = this.hosts = 0;
    this.hostAt = -1;
    this.absoluteHost = null;
    this.cl = -1;
    this.te = 0;
    this.teChunkedLast = this.teOther = false;
    this.connClose = this.connKeepAlive = this.connUpgrade = this.hasUpgrade = false;
    this.expectContinue = this.expectOther = this.upgrade = this.connect = false;
    this.phase = Phase.Fields;
  }

  /** startRequest readies the parser for the next request line (after a body). */
  private startRequest(): void {
    this.method = this.target = ''; // the request is over: an error from here is the next one's
    this.state = State.Lines;
    this.phase = Phase.RequestLine;
    this.leadBytes = 0;
  }

  private stop(status: number, reason: string): Line {
    this.error(status, reason);
    return Line.Stop;
  }

  private error(status: number, reason: string): false {
    if (this.state !== State.Error) {
      this.state = State.Error;
      this.sink.onRequestError(status, reason);
    }
    return false;
  }
}
