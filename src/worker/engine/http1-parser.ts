/**
 * RequestParser is fulcrum's strict, incremental HTTP/1.1 request parser (RFC 9112), in the style
 * of the upstream response parser (src/worker/upstream/response-parser.ts): callbacks to one sink
 * object, no allocation per byte, each string (method, target, field name and value) copied out of
 * the caller's bytes once. Complete lines are parsed as they arrive; only an unfinished line is
 * copied (into a buffer the parser keeps), so a head split over reads costs one small copy.
 *
 * This file feeds bytes: lines, bodies and their framing. What one head may say (request line,
 * target forms, fields, Host, Content-Length / Transfer-Encoding, Expect) is http1-head.ts.
 * Anything refused is answered with a status, then the connection closes: after an error the
 * parser stays failed and nothing after it is ever parsed.
 *   - lines end in CRLF only (a bare LF is 400, as llhttp's strict mode; nginx accepts it);
 *     leading empty lines before a request line are skipped (RFC 9112 2.2).
 *   - chunked (the framing in http1-chunked.ts): hex sizes, extensions parsed by their grammar
 *     (RFC 9112 7.1.1) and dropped, exactly CRLF after each chunk's data, trailer fields checked
 *     like header fields and dropped.
 *   - limits: an unfinished request line longer than any valid one: 414; an unfinished field line
 *     longer than maxHeaderBytes: 431; a chunked body over maxBodyBytes while it streams: 413.
 */
import { ChunkEvent, ChunkFraming } from './http1-chunked.js';
import { HeadRules } from './http1-head.js';

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

/** slack over the configured limits for one unfinished line: the method, version and OWS */
const LINE_SLACK = 1024;

export class RequestParser extends HeadRules {
  /** decoded body bytes of the current request so far */
  bodyBytes = 0;

  private state = State.Lines;
  private phase = Phase.RequestLine;
  private carry: Buffer | null = null;
  private carryLen = 0;
  /** bytes of the head (or trailers) seen so far: leading empty lines count */
  private leadBytes = 0;
  private remaining = 0;
  /** made at the first chunked body (most connections never see one) */
  private chunk: ChunkFraming | null = null;
  /** where feedLines stopped */
  private linesAt = 0;

  constructor(
    private readonly sink: RequestSink,
    limits: RequestLimits,
  ) {
    super(limits);
  }

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
            this.chunk!.afterData();
          }
          const go = this.sink.onRequestBody(buf, i, i + n, false);
          i += n;
          if (!go) return i;
          break;
        }
        case State.ChunkLine: {
          const ev = this.chunk!.byte(buf[i]!, this.limits.maxBodyBytes - this.bodyBytes);
          i++;
          if (ev === ChunkEvent.Data) {
            this.remaining = this.chunk!.size;
            this.state = State.ChunkData;
          } else if (ev === ChunkEvent.Last) {
            this.state = State.Lines;
            this.phase = Phase.Trailers;
            this.count = this.countBytes = 0;
          } else if (ev === ChunkEvent.Error) {
            this.error(this.chunk!.status, this.chunk!.reason);
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
        this.phase = Phase.Fields;
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

  /** headDone applies the head-wide rules and hands the head to the sink. */
  private headDone(): Line {
    if (!this.headRules()) return Line.Stop;
    const bodyLength = this.bodyLength;
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
      (this.chunk ??= new ChunkFraming()).begin();
    }
    const go = this.sink.onRequestHead(this);
    this.fields = [];
    if (bodyLength === 0) this.method = this.target = ''; // handed over: an error from here is the next request's
    if (this.state === State.Error) return Line.Stop;
    if (!go) return Line.Stop;
    return bodyLength === 0 ? Line.More : Line.Switch;
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

  protected error(status: number, reason: string): false {
    if (this.state !== State.Error) {
      this.state = State.Error;
      this.sink.onRequestError(status, reason);
    }
    return false;
  }
}
