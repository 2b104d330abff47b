/**
 * StreamExchange is one HTTP/2 stream of fulcrum's own frame layer (conn.ts) as a ClientExchange
 * (engine/exchange.ts), the counterpart of h2-exchange.ts for node:http2 streams: the request read
 * from its header list by the same readRequest (h2-request.ts), its body from DATA frames, the
 * response written as HEADERS and DATA frames (RFC 9113 8.1) by the connection.
 *
 * - Framing: END_STREAM ends a response, Content-Length is sent when the length is known and held
 *   to (more or fewer bytes reset the stream, so a cut response never looks complete);
 *   connection-specific response fields are dropped (8.2.2), as on node:http2.
 * - Writes: the connection frames DATA into its output arena at once as far as the client's
 *   windows and the socket allow (a copy: keepsReferences is false, the proxy's shared upstream
 *   read buffer is free when write() returns). The rest is copied and held by the stream; write()
 *   says false once HIGH_WATER octets are held, and onClientWritable follows when the connection
 *   has sent them all (pump). A client that does not read stalls only its own stream.
 * - The request body: DATA goes to the handler while it reads; before readBody() or while paused
 *   it is copied and kept (at most the stream's receive window, 65535, since the window is given
 *   back only for what was delivered). A Content-Length the DATA does not match is malformed
 *   (8.1.1: RST_STREAM PROTOCOL_ERROR); more than limits.maxBodyBytes is refused as on HTTP/1.1.
 *   A response complete while the body is still coming ends the stream with RST_STREAM NO_ERROR.
 * - abort() resets the stream (INTERNAL_ERROR); the client's RST_STREAM, or its connection
 *   closing, is onClientAborted.
 * - An RFC 8441 WebSocket stream (exchange-base.ts): after its 2xx, END_STREAM is a half-close
 *   both ways (our END_STREAM does not close the stream while the client still sends), abort()
 *   is RST_STREAM CANCEL, and the client's RST_STREAM is onClientAborted even after our side ended.
 */
import { BODY_NONE, type ClientExchange, type RequestHandler, ResponseBody } from '../engine/exchange.js';
import { fieldValue } from '../engine/field-value.js';
import { httpDate } from '../engine/http1-exchange.js';
import { log } from '../../log.js';
import type { FrameConnection } from './conn.js';
import { CANCEL, H2ExchangeBase, Res, Write } from './exchange-base.js';
import { DEFAULT_WINDOW, FLOW_CONTROL_ERROR, INTERNAL_ERROR, MAX_FRAME_BYTES, MAX_WINDOW, NO_ERROR, PROTOCOL_ERROR } from './frames.js';
import { DROPPED_RESPONSE_FIELDS, MALFORMED } from './h2-request.js';

const EMPTY = Buffer.alloc(0);
/** held octets above which write() says the client is backed up */
const HIGH_WATER = 64 * 1024;
/** delivered body octets given back to the client's stream window at once */
const CREDIT_STEP = 16 * 1024;

export class StreamExchange extends H2ExchangeBase implements ClientExchange {
  /** the client's window for this stream (conn.ts spends it) */
  sendWindow: number;
  /** the client ended its side (END_STREAM received) */
  remoteEnded: boolean;
  /** response octets copied and waiting for window or socket */
  heldBytes = 0;

  private head: (string | Buffer)[] | null = null;
  /** index in head of a content-length value the caller wrote, or -1 */
  private lengthAt = -1;
  private held: Buffer[] | null = null;
  private heldStart = 0;
  /** END_STREAM goes after the held octets */
  private endHeld = false;
  private localEnded = false;
  private reading = false;
  private paused = false;
  /** body pieces that arrived before readBody or while paused (copies), and whether END_STREAM came after them */
  private inbound: Buffer[] | null = null;
  private inboundEnd = false;
  private recvWindow = DEFAULT_WINDOW;
  private consumed = 0;

  constructor(
    private readonly conn: FrameConnection,
    readonly id: number,
    raw: readonly string[],
    endStream: boolean,
  ) {
    super(conn, raw, endStream);
    this.remoteEnded = endStream;
    this.sendWindow = conn.initialWindow;
  }

  /** the response is complete and framed (a reset after it is no cancellation) */
  get complete(): boolean {
    return this.res === Res.Ended && !this.cut && this.held === null;
  }

  /** dispatch hands the exchange to the worker's handler, or answers a request readRequest refused. */
  dispatch(handler: RequestHandler): void {
    if (this.refused === MALFORMED) {
      this.conn.resetStream(this, PROTOCOL_ERROR);
      return;
    }
    if (this.refused !== 0) {
      this.respondError(this.refused);
      return;
    }
    try {
      handler(this);
    } catch (err) {
      log.error('request handler threw', { error: (err as Error)?.stack ?? String(err) });
      this.respond(500, 'Internal Server Error', [], '500 Internal Server Error\n', true);
      this.abort();
    }
  }

  // ---- the request body -------------------------------------------------------------------

  readBody(): void {
    if (this.reading || this.cut) return;
    this.reading = true;
    if (this.remoteEnded && this.inbound === null) {
      if (this.bodyLength === BODY_NONE) this.handler?.onClientBody(EMPTY, 0, 0, true);
      return;
    }
    if (this.res === Res.Idle && !this.remoteEnded && fieldValue(this.fields, 'expect').toLowerCase() === '100-continue')
      this.conn.sendHead(this.id, 100, [], false);
    this.deliver();
  }

  pauseBody(): void {
    this.paused = true;
  }

  resumeBody(): void {
    this.paused = false;
    if (this.reading) this.deliver();
  }

  /** data: a DATA frame's payload buf[s, e) (pad: its padding octets, flow-controlled too), or the end of the body (trailers) */
  data(buf: Buffer, s: number, e: number, pad: number, end: boolean): void {
    const n = e - s;
    if (n + pad > this.recvWindow) return this.conn.resetStream(this, FLOW_CONTROL_ERROR);
    this.recvWindow -= n + pad;
    if (pad > 0) this.credit(pad);
    if (this.overLimit(n)) return;
    const length = this.bodyLength;
    if (length >= 0 && (this.received > length || (end && this.received !== length))) return this.conn.resetStream(this, PROTOCOL_ERROR);
    if (end) this.remoteEnded = true;
    if (this.cut) {
      this.credit(n);
    } else if (this.reading && !this.paused && this.inbound === null) {
      this.handler?.onClientBody(buf, s, e, end);
      this.credit(n);
    } else if (n > 0 || end) {
      (this.inbound ??= []).push(n > 0 ? Buffer.from(buf.subarray(s, e)) : EMPTY);
      this.inboundEnd = end;
    }
    if (end && this.localEnded) this.conn.streamDone(this);
  }

  /** deliver hands what was kept to the handler, while it reads */
  private deliver(): void {
    const q = this.inbound;
    if (q === null) return;
    while (q.length > 0 && !this.paused && !this.cut) {
      const b = q.shift()!;
      this.handler?.onClientBody(b, 0, b.length, q.length === 0 && this.inboundEnd);
      this.credit(b.length);
    }
    if (q.length === 0) this.inbound = null;
  }

  /** credit gives delivered octets back to the client's window for this stream, in CREDIT_STEP steps */
  private credit(n: number): void {
    this.consumed += n;
    if (this.consumed < CREDIT_STEP || this.remoteEnded) return;
    this.conn.sendWindowUpdate(this.id, this.consumed);
    this.recvWindow += this.consumed;
    this.consumed = 0;
  }

  protected resetStream(code: number): void {
    this.conn.resetStream(this, code);
  }

  // ---- the response -----------------------------------------------------------------------

  writeInterim(status: number, _reason: string, fields: readonly (string | Buffer)[]): void {
    if (this.res !== Res.Idle || status < 100 || status > 199 || status === 101 || this.cut) return;
    const h: (string | Buffer)[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const n = (fields[i] as string).toLowerCase();
      if (!DROPPED_RESPONSE_FIELDS.has(n)) h.push(n, fields[i + 1]!);
    }
    this.conn.sendHead(this.id, status, h, false);
  }

  writeStatus(code: number, _reason: string): void {
    if (this.res !== Res.Idle) return;
    this.res = Res.Head;
    this.status = code;
    this.head = [];
  }

  writeHeader(name: string, value: string | Buffer): void {
    if (this.res !== Res.Head) return;
    const n = name.toLowerCase();
    if (DROPPED_RESPONSE_FIELDS.has(n)) return;
    if (n === 'date') this.sawDate = true;
    else if (n === 'content-length') {
      if (this.lengthAt >= 0) return; // the first one counts
      this.lengthAt = this.head!.length + 1;
    }
    this.head!.push(n, value);
  }

  endHead(body: number, _close: boolean): void {
    if (this.res !== Res.Head) return;
    const h = this.head!;
    this.head = null;
    const status = this.status;
    if (status < 200) {
      this.res = Res.Body;
      this.abort(); // 101 and other 1xx are no final response (and no tunnel on HTTP/2)
      return;
    }
    if (!this.sawDate) h.push('date', httpDate());
    let endStream = false;
    if (status === 204 || status === 304) endStream = true;
    else if (this.method === 'HEAD') {
      endStream = true;
      if (body >= 0 && this.lengthAt < 0) h.push('content-length', String(body));
    } else if (body === ResponseBody.None) {
      endStream = true;
      if (this.lengthAt < 0) h.push('content-length', '0');
    } else if (body >= 0) {
      if (this.lengthAt >= 0) h[this.lengthAt] = String(body);
      else h.push('content-length', String(body));
      this.remaining = body;
      endStream = body === 0;
    } else if (this.lengthAt >= 0) h.splice(this.lengthAt - 1, 2);
    if (this.cut) return;
    this.res = endStream ? Res.Ended : Res.Body;
    if (this.tunnel && status < 300) this.tunnelling = true;
    this.conn.sendHead(this.id, status, h, endStream);
    if (endStream) this.localEnd();
  }

  write(buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    const w = this.admitWrite(n);
    if (w !== Write.Send) return w === Write.Ignore && !this.waiting;
    if (this.put(buf, start, end) < HIGH_WATER) return true;
    this.waiting = true;
    return false;
  }

  /** put frames what it can of buf[start, end) and holds a copy of the rest; returns the octets held */
  private put(buf: Buffer, start: number, end: number): number {
    if (this.held === null) {
      const sent = this.conn.sendData(this, buf, start, end);
      if (sent === end - start) return 0;
      start += sent;
      this.held = [];
      this.heldStart = 0;
      this.conn.hold(this);
    }
    // a copy: the caller's bytes are free when write() returns
    const copy = Buffer.allocUnsafe(end - start);
    buf.copy(copy, 0, start, end);
    this.held.push(copy);
    this.heldBytes += copy.length;
    return this.heldBytes;
  }

  /** sendHeld frames at most one frame of what is held (conn.ts pump); returns the octets still held */
  sendHeld(): number {
    const q = this.held;
    if (q === null) return 0;
    if (q.length > 0) {
      const b = q[0]!;
      const to = Math.min(b.length, this.heldStart + MAX_FRAME_BYTES);
      const sent = this.conn.sendData(this, b, this.heldStart, to);
      this.heldStart += sent;
      this.heldBytes -= sent;
      if (this.heldStart === b.length) {
        q.shift();
        this.heldStart = 0;
      }
    }
    if (q.length > 0) return this.heldBytes;
    this.held = null;
    if (this.endHeld) {
      this.endHeld = false;
      this.conn.sendEnd(this.id);
      this.localEnd();
    }
    if (this.waiting) {
      this.waiting = false;
      if (!this.cut) this.handler?.onClientWritable();
    }
    return 0;
  }

  end(): void {
    if (!this.admitEnd()) return;
    if (this.held !== null) this.endHeld = true;
    else {
      this.conn.sendEnd(this.id);
      this.localEnd();
    }
  }

  respond(code: number, reason: string, fields: readonly (string | Buffer)[], body: Buffer | string | null, close: boolean): void {
    if (this.res !== Res.Idle) return;
    this.writeStatus(code, reason);
    for (let i = 0; i + 1 < fields.length; i += 2) this.writeHeader(fields[i] as string, fields[i + 1]!);
    const b = body === null ? EMPTY : typeof body === 'string' ? Buffer.from(body) : body;
    this.endHead(b.length, close);
    if ((this.res as Res) !== Res.Body) return; // no body (HEAD, 204, 304, empty) or refused
    // the whole response at once: what the windows do not take is held, and no onClientWritable is owed
    this.bytesWritten = b.length;
    this.remaining = 0;
    this.put(b, 0, b.length);
    this.end();
  }

  abort(): void {
    // a tunnel whose client still sends is open after our END_STREAM
    if (this.res === Res.Ended && this.held === null && (!this.tunnelling || this.remoteEnded || this.cut)) return;
    this.cut = true;
    this.res = Res.Ended;
    this.held = null;
    this.heldBytes = 0;
    this.conn.resetStream(this, this.tunnelling ? CANCEL : INTERNAL_ERROR);
  }

  // ---- connection side --------------------------------------------------------------------

  /** addSendWindow: a WINDOW_UPDATE or an INITIAL_WINDOW_SIZE change; false when the window overflows (6.9.1) */
  addSendWindow(delta: number): boolean {
    this.sendWindow += delta;
    return this.sendWindow <= MAX_WINDOW;
  }

  override respondError(status: number): void {
    this.cut = false; // a body too large was cut first: endHead writes nothing for a cut exchange
    super.respondError(status);
  }

  /** clientGone ends the exchange because the client reset the stream or left (or the stream was reset) */
  clientGone(): void {
    if (this.cut) return;
    this.cut = true;
    const done = this.res === Res.Ended && this.held === null;
    this.res = Res.Ended;
    this.held = null;
    this.heldBytes = 0;
    this.inbound = null;
    if (done && !this.waiting && (!this.tunnelling || this.remoteEnded)) return; // complete and framed: nothing owed
    this.handler?.onClientAborted();
  }

  /** localEnd: END_STREAM is framed; the stream closes, at once if the request body is still coming (RST_STREAM NO_ERROR, 8.1) */
  private localEnd(): void {
    if (this.localEnded) return;
    this.localEnded = true;
    if (!this.remoteEnded) {
      if (this.tunnelling) return; // a half-close: the client's bytes still come (data() closes the stream at its END_STREAM)
      this.conn.sendRst(this.id, NO_ERROR);
    }
    this.conn.streamDone(this);
  }
}
