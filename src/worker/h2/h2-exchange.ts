/**
 * H2Exchange is one HTTP/2 stream as a ClientExchange (engine/exchange.ts): the request read from
 * its header list (h2-request.ts), its body delivered from the stream's DATA frames, the
 * response written as HEADERS and DATA frames by node:http2 (RFC 9113 8.1).
 *
 * - Framing is HTTP/2's: END_STREAM ends a response, so no chunking and no Connection field;
 *   Content-Length is sent when the length is known (and checked: more or fewer bytes than
 *   announced reset the stream, so a client never takes a cut response for a complete one).
 *   Connection-specific response fields are dropped (RFC 9113 8.2.2: node would refuse the head);
 *   a field node allows only once (content-type, date...) keeps its first value.
 * - Writes: node:http2 sends DATA later (never during write()), from the memory it was given, so
 *   write() copies the piece (keepsReferences false): the proxy's shared upstream read buffer is
 *   free at once. Holding the caller's bytes instead made every response retire that buffer
 *   (upstream/read-buffer.ts), which re-points every upstream socket: with hundreds of streams in
 *   flight it cost a third of the worker's CPU (BENCHMARKS.md, "HTTP/2 with h2load"). Pieces of
 *   4-16 KiB are copied into reused buffers (h2-pieces.ts), given back at their write's callback,
 *   not into a fresh allocation each. write()
 *   returns false once HIGH_WATER bytes are unsent and onClientWritable follows when node has
 *   sent all but LOW_WATER of them. That is the stream's flow control too: a client that does not
 *   read stalls its own stream (its window), never the others, and holds at most HIGH_WATER plus
 *   one piece in memory per stream.
 * - The request body: DATA is delivered while the handler reads; pauseBody stops reading, which
 *   holds back WINDOW_UPDATE, so the client stops sending (node consumes flow-control window
 *   only for what is read). A body over limits.maxBodyBytes is refused as the HTTP/1.1 engine
 *   does (413 before the response started, a reset after).
 * - abort() resets the stream (RST_STREAM INTERNAL_ERROR); a client's RST_STREAM, or its
 *   connection closing, is onClientAborted. A response complete while the request body is still
 *   coming ends the stream with RST_STREAM NO_ERROR (RFC 9113 8.1), so the client stops sending.
 * - An RFC 8441 WebSocket stream (exchange-base.ts): after its 2xx, END_STREAM is a half-close
 *   both ways (no RST_STREAM NO_ERROR when the response ends first), abort() is RST_STREAM
 *   CANCEL, and the client's RST_STREAM is onClientAborted even after our side ended.
 *
 * Node's stream events reach the exchange through shared functions (the stream holds its
 * exchange), not closures per request; the write callback is the one closure per exchange.
 */
import http2 from 'node:http2';
import { BODY_NONE, type ClientExchange, ResponseBody } from '../engine/exchange.js';
import { fieldValue } from '../engine/field-value.js';
import { httpDate } from '../engine/http1-exchange.js';
import { CANCEL, H2ExchangeBase, Res, Write } from './exchange-base.js';
import { givePiece, PIECE_BYTES, PIECE_MIN_BYTES, takePiece } from './h2-pieces.js';
import { DROPPED_RESPONSE_FIELDS as DROPPED, MALFORMED } from './h2-request.js';
import type { H2Connection } from './h2-session.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/** The stream's exchange, where node's events find it. */
const EXCHANGE = Symbol('fulcrum.h2.exchange');
type Stream = http2.ServerHttp2Stream & { [EXCHANGE]?: H2Exchange };

const EMPTY = Buffer.alloc(0);
/** unsent bytes per stream above which write() says the client is backed up (node's own mark, 16 KiB, would pause a 16 KiB response) */
const HIGH_WATER = 64 * 1024;
/** ...and below which onClientWritable asks for more */
const LOW_WATER = 16 * 1024;

/** fields node:http2 sends at most once (lib/internal/http2/util.js kSingleValueHeaders): the first value is kept */
const SINGLE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

type Head = Record<string, string | number | string[]>;

export class H2Exchange extends H2ExchangeBase implements ClientExchange {
  private head: Head | null = null;
  /** writes node has not sent yet */
  private unsent = 0;
  /** writes made */
  private writes = 0;
  /** the oldest pooled piece node still holds (h2-pieces.ts), and the number of its write */
  private piece: Buffer | null = null;
  private pieceAt = -1;
  /** younger pooled pieces still held, and their writes' numbers (several writes in flight) */
  private pieces: Buffer[] | null = null;
  private piecesAt: number[] | null = null;
  private reading = false;
  /** the client ended the request body (or sent none) */
  private bodyEnded: boolean;
  private readonly onWritten = (): void => this.written();
  /** end() came while writes were unsent: the stream ends after them */
  private endPending = false;

  constructor(
    private readonly conn: H2Connection,
    private readonly stream: http2.ServerHttp2Stream,
    raw: readonly string[],
    endStream: boolean,
  ) {
    super(conn, raw, endStream);
    this.bodyEnded = endStream;
    (stream as Stream)[EXCHANGE] = this;
    stream.on('close', onStreamClose);
    stream.on('error', ignore);
    // only a request body still coming needs refusing once the response is out (finished)
    if (!endStream) stream.on('finish', onStreamFinish);
    stream.on('aborted', onStreamAborted);
  }

  // ---- the request body -------------------------------------------------------------------

  readBody(): void {
    if (this.reading || this.res === Res.Ended) return;
    this.reading = true;
    const s = this.stream;
    if (this.bodyEnded && this.bodyLength === BODY_NONE) {
      this.handler?.onClientBody(EMPTY, 0, 0, true);
      return;
    }
    if (this.res === Res.Idle && fieldValue(this.fields, 'expect').toLowerCase() === '100-continue') s.additionalHeaders({ ':status': 100 });
    s.on('data', onStreamData);
    s.on('end', onStreamEnd);
  }

  pauseBody(): void {
    this.stream.pause();
  }

  resumeBody(): void {
    if (this.reading) this.stream.resume();
  }

  /** body: a DATA frame's payload (node's own buffer) */
  body(chunk: Buffer): void {
    if (this.cut || this.overLimit(chunk.length)) return;
    this.handler?.onClientBody(chunk, 0, chunk.length, false);
  }

  bodyEnd(): void {
    this.bodyEnded = true;
    if (!this.cut) this.handler?.onClientBody(EMPTY, 0, 0, true);
  }

  protected resetStream(code: number): void {
    this.reset(code);
  }

  // ---- the response -----------------------------------------------------------------------

  writeInterim(status: number, _reason: string, fields: readonly (string | Buffer)[]): void {
    if (this.res !== Res.Idle || status < 100 || status > 199 || status === 101) return;
    const h: Head = { ':status': status };
    for (let i = 0; i + 1 < fields.length; i += 2) add(h, (fields[i] as string).toLowerCase(), fields[i + 1]!);
    this.stream.additionalHeaders(h);
  }

  writeStatus(code: number, _reason: string): void {
    if (this.res !== Res.Idle) return;
    this.res = Res.Head;
    this.status = code;
    this.head = { ':status': code };
  }

  writeHeader(name: string, value: string | Buffer): void {
    if (this.res !== Res.Head) return;
    const n = name.toLowerCase();
    if (DROPPED.has(n)) return;
    if (n === 'date') this.sawDate = true;
    add(this.head!, n, value);
  }

  endHead(body: number, _close: boolean): void {
    if (this.res !== Res.Head) return;
    const h = this.head!;
    this.head = null;
    const status = this.status;
    if (status < 200) {
      this.abort(); // 101 and other 1xx are no final response (and no tunnel on HTTP/2)
      return;
    }
    if (!this.sawDate) h.date = httpDate();
    let endStream = false;
    if (status === 204 || status === 304) endStream = true;
    else if (this.method === 'HEAD') {
      endStream = true;
      if (body >= 0 && h['content-length'] === undefined) h['content-length'] = body;
    } else if (body === ResponseBody.None) {
      endStream = true;
      if (h['content-length'] === undefined) h['content-length'] = 0;
    } else if (body >= 0) {
      h['content-length'] = body;
      this.remaining = body;
      endStream = body === 0;
    } else delete h['content-length'];
    this.res = endStream ? Res.Ended : Res.Body;
    if (this.tunnel && status < 300) this.tunnelling = true;
    try {
      this.stream.respond(h, { endStream });
    } catch {
      // a field node refuses (an invalid name or value from a server): never a half-sent head
      this.res = Res.Body;
      this.abort();
    }
  }

  write(buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    const w = this.admitWrite(n);
    if (w !== Write.Send) return w === Write.Ignore && !this.waiting;
    let copy: Buffer;
    if (n >= PIECE_MIN_BYTES && n <= PIECE_BYTES) {
      const p = takePiece();
      buf.copy(p, 0, start, end);
      copy = n === PIECE_BYTES ? p : p.subarray(0, n);
      this.hold(p);
    } else {
      copy = Buffer.allocUnsafe(n);
      buf.copy(copy, 0, start, end);
    }
    this.writes++;
    this.unsent++;
    const s = this.stream;
    s.write(copy, this.onWritten);
    if (s.writableLength < HIGH_WATER) return true;
    this.waiting = true;
    return false;
  }

  end(): void {
    if (!this.admitEnd()) return;
    // END_STREAM once every DATA frame is out (see aborted)
    if (this.unsent > 0) this.endPending = true;
    else this.stream.end();
  }

  respond(code: number, reason: string, fields: readonly (string | Buffer)[], body: Buffer | string | null, close: boolean): void {
    if (this.res !== Res.Idle) return;
    this.writeStatus(code, reason);
    for (let i = 0; i + 1 < fields.length; i += 2) this.writeHeader(fields[i] as string, fields[i + 1]!);
    const len = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.endHead(len, close);
    if ((this.res as Res) !== Res.Body) return; // no body (HEAD, 204, 304, empty) or refused
    this.res = Res.Ended;
    this.bytesWritten = len;
    this.remaining = 0;
    this.stream.end(body);
  }

  abort(): void {
    // a tunnel whose client still sends is open after our END_STREAM
    if (this.res === Res.Ended && (!this.tunnelling || this.bodyEnded || this.cut)) return;
    this.cut = true;
    this.res = Res.Ended;
    this.reset(this.tunnelling ? CANCEL : NGHTTP2_INTERNAL_ERROR);
  }

  // ---- engine side ------------------------------------------------------------------------

  /** refuse answers a request readRequest refused (never given to the handler): a response, or a reset when malformed */
  refuse(): void {
    if (this.refused === MALFORMED) this.reset(NGHTTP2_PROTOCOL_ERROR);
    else this.respondError(this.refused);
  }

  /** clientGone ends the exchange because the client reset the stream or left. */
  clientGone(): void {
    if (this.cut) return;
    this.cut = true;
    const done = this.res === Res.Ended;
    this.res = Res.Ended;
    if (done && !this.waiting && (!this.tunnelling || this.bodyEnded)) return; // complete and flushed: nothing owed
    this.handler?.onClientAborted();
  }

  /** closed: node closed the stream (complete, reset by either side, or the connection went). */
  closed(): void {
    const complete = this.res === Res.Ended && !this.cut && this.unsent === 0 && this.stream.rstCode === NGHTTP2_NO_ERROR;
    this.conn.streamClosed(this, !complete && !this.cut);
    if (!complete) this.clientGone();
  }

  /**
   * aborted: nghttp2 closed the stream before its response was complete. When the client did
   * (RST_STREAM), the stream is destroyed now: node (20) destroys a stream closed with NO_ERROR
   * only once its writable side has finished, and DATA still queued for a closed stream is never
   * sent, so it would stay forever with its exchange and connection. (Deferring END_STREAM until
   * every write is out, in end(), makes a reset always arrive here rather than after end().) When
   * we reset it (abort, a refused body), node sends the RST_STREAM and destroys it itself.
   */
  aborted(): void {
    const s = this.stream;
    if (!this.cut && !s.destroyed) s.destroy();
  }

  /** finished: the response's last frame went out; a request body still coming is refused with RST_STREAM NO_ERROR (RFC 9113 8.1). */
  finished(): void {
    // (a tunnel's client goes on sending after our END_STREAM: a half-close)
    if (!this.bodyEnded && !this.stream.closed && !this.tunnelling) this.reset(NGHTTP2_NO_ERROR);
  }

  private reset(code: number): void {
    const s = this.stream;
    if (!s.closed && !s.destroyed) s.close(code);
  }

  /** hold notes that the write about to be made holds pooled piece p until its callback. */
  private hold(p: Buffer): void {
    if (this.piece === null) {
      this.piece = p;
      this.pieceAt = this.writes;
      return;
    }
    (this.pieces ??= []).push(p);
    (this.piecesAt ??= []).push(this.writes);
  }

  private written(): void {
    // callbacks come in the order of the writes: this is write number writes - unsent, and node
    // no longer refers to its bytes (sent, or dropped with the stream)
    if (this.writes - this.unsent === this.pieceAt) {
      givePiece(this.piece!);
      const more = this.pieces;
      if (more !== null && more.length > 0) {
        this.piece = more.shift()!;
        this.pieceAt = this.piecesAt!.shift()!;
      } else {
        this.piece = null;
        this.pieceAt = -1;
      }
    }
    if (--this.unsent === 0 && this.endPending) {
      this.endPending = false;
      if (!this.cut) this.stream.end();
    }
    // after end(), only once the tail has left (exchange.ts)
    if (!this.waiting || (this.unsent > 0 && (this.res === Res.Ended || this.stream.writableLength > LOW_WATER))) return;
    this.waiting = false;
    if (this.cut) return;
    this.handler?.onClientWritable();
  }
}

/** add sets a response field, repeating it where HTTP allows (as an array) and keeping the first value where node allows one. */
function add(h: Head, name: string, value: string | Buffer): void {
  const v = typeof value === 'string' ? value : value.toString('latin1');
  const had = h[name];
  if (had === undefined) h[name] = v;
  else if (SINGLE.has(name)) return;
  else if (Array.isArray(had)) had.push(v);
  else h[name] = [String(had), v];
}

function onStreamData(this: Stream, chunk: Buffer): void {
  this[EXCHANGE]?.body(chunk);
}

function onStreamEnd(this: Stream): void {
  this[EXCHANGE]?.bodyEnd();
}

function onStreamAborted(this: Stream): void {
  this[EXCHANGE]?.aborted();
}

function onStreamClose(this: Stream): void {
  const ex = this[EXCHANGE];
  if (ex === undefined) return;
  this[EXCHANGE] = undefined;
  ex.closed();
}

function onStreamFinish(this: Stream): void {
  this[EXCHANGE]?.finished();
}

function ignore(): void {}
