/**
 * UwsExchange, the ClientExchange of the uWS engine (uws-engine.ts) over uWS's HttpRequest and
 * HttpResponse. With the engine, the only code in the worker that sees a uWS object, besides the
 * uWS WebSocket front (ws/), which completes upgrades through UwsExchange.upgrade.
 *
 * What uWS decides and fulcrum cannot (README "What the uWS engine cannot do"): its HTTP/1.1 parser, the 10 s header
 * and keep-alive timeouts, no pipelining, no HTTP/1.0. Its rules that shape this file:
 *   - HttpRequest dies when the handler returns: method, target and fields are copied once there,
 *     and onData/onAborted must be attached there (see leaveHandler);
 *   - there is no connection object: the client address is read per request, and the formatted
 *     address (and its ClientPeer memo) is reused while consecutive requests come from one address;
 *   - writes outside a handler must be corked; uWS copies what the socket does not take
 *     (keepsReferences false), except tryEnd, which takes nothing it cannot send: the rest is kept
 *     in a recycled spill buffer and resent from onWritable;
 *   - uWS 20.30 drops a res.write() that overflows a non-empty cork buffer while the client socket
 *     is backed up: chunked pieces written inside cork() are held and written after it.
 */
import { formatAddress } from '../../net/cidr.js';
import { statusLine } from '../../net/http-status.js';
import type { HttpRequest, HttpResponse, SocketContext } from '../../uws.js';
import { nextSeq } from '../obs/request-id.js';
import { fieldValue } from './field-value.js';
import { BODY_NONE, BODY_UNKNOWN, ResponseBody, type ClientExchange, type ClientHandler, type ClientPeer } from './exchange.js';

/** The engine's state that its exchanges read (set by UwsEngine). */
export const uwsState = {
  /** the engine is draining: every response carries Connection: close */
  closing: false,
  /** inside a uWS handler (request or upgrade): uWS corks by itself */
  inHandler: false,
};

// The client address: consecutive requests from one address (keep-alive, load tests) share a peer.
let lastPeer: ClientPeer | null = null;

function peerOf(res: HttpResponse): ClientPeer {
  const b = new Uint8Array(res.getRemoteAddress());
  const p = lastPeer;
  if (p !== null && p.bytes.length === b.length) {
    let same = true;
    for (let i = 0; same && i < b.length; i++) same = b[i] === p.bytes[i];
    if (same) return p;
  }
  return (lastPeer = { bytes: b, ip: formatAddress(b), gen: -1, trusted: false, allowed: true, busy: -1 });
}

// Response bytes a slow client has not taken yet (tryEnd) are copied out of the caller's buffer into
// a spill buffer. Spill buffers are recycled: a fresh 64 KiB allocation per stalled write cost page
// faults (glibc returns and re-faults the memory) and showed in the profile at 256 KiB.
const SPILL_BYTES = 64 * 1024;
const SPILL_KEEP = 64;
const spillFree: Buffer[] = [];

// uWS runs cork callbacks synchronously: the exchange and arguments are held in module variables
// instead of a closure per write.
let cEx: UwsExchange | null = null;
let cBuf: Buffer | null = null;
let cFields: readonly (string | Buffer)[] = [];
let cLine = '';
let cBody: Buffer | string | null = null;
let cClose = false;
let cOk = true;
function corkedWrite(): void {
  cOk = cEx!.writeNow(cBuf!);
}
function corkedEnd(): void {
  cEx!.endNow();
}
function corkedRespond(): void {
  cEx!.respondNow(cLine, cFields, cBody, cClose);
}

// the fields of the request being copied, and what its framing fields say (one pass, no call into uWS per field)
let captured: string[] = [];
let capturedLength = BODY_NONE;
function captureField(k: string, v: string): void {
  captured.push(k, v);
  if (k.length === 14 && k === 'content-length') {
    if (capturedLength === BODY_NONE) capturedLength = Number(v) || BODY_NONE;
  } else if (k.length === 17 && k === 'transfer-encoding') capturedLength = BODY_UNKNOWN;
}

/** BODY_DONE: total of a response that uWS has completed (endWithoutBody, end) */
const TOTAL_NONE = -2;

export class UwsExchange implements ClientExchange {
  readonly method: string;
  readonly target: string;
  readonly httpVersion = 'HTTP/1.1';
  /** upgrades go to uWS's own WebSocket route (ws/ws-front.ts), never through detach() */
  readonly tunnel = false;
  readonly fields: string[];
  readonly bodyLength: number;
  readonly peer: ClientPeer;
  readonly seq = nextSeq();
  readonly startedAt = performance.now();
  readonly keepsReferences = false;
  handler: ClientHandler | null = null;
  bytesWritten = 0;
  /** null once uWS is done with the response (completed, aborted or closed) */
  private res: HttpResponse | null;
  /** the caller ended the exchange (end, respond, abort, upgrade) */
  private ended = false;
  private aborting = false;
  private inCork = false;
  /** the response body length announced by endHead (-1: unknown, TOTAL_NONE: none) */
  private total = TOTAL_NONE;
  private written = 0;
  private spill: Buffer | null = null;
  private spillBuf: Buffer | null = null;
  private spillBase = 0;
  /** a write returned false: onClientWritable is owed */
  private waiting = false;
  private writableArmed = false;
  private abortedArmed = false;
  private reading = false;
  /** body pieces that arrived before readBody (copied) */
  private early: Buffer[] | null = null;
  private earlyLast = false;
  private deferred: Buffer[] | null = null;
  private endDeferred = false;

  constructor(
    res: HttpResponse,
    req: HttpRequest,
    readonly secure: boolean,
  ) {
    this.res = res;
    this.method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const query = req.getQuery();
    this.target = query ? url + '?' + query : url;
    captured = [];
    capturedLength = BODY_NONE;
    req.forEach(captureField);
    this.fields = captured;
    this.bodyLength = capturedLength;
    captured = [];
    this.peer = peerOf(res);
  }

  get closing(): boolean {
    return uwsState.closing;
  }

  field(name: string): string {
    return fieldValue(this.fields, name);
  }

  /** leaveHandler runs when the uWS handler returns: what uWS requires to be attached there is attached. */
  leaveHandler(): void {
    const res = this.res;
    if (res === null || this.ended) return;
    this.armAborted(res);
    if (this.bodyLength !== BODY_NONE && !this.reading) {
      // the body arrives right after the handler: keep it for a readBody() that comes later
      res.onData((ab, isLast) => this.onData(ab, isLast));
      this.early = [];
    }
  }

  private armAborted(res: HttpResponse): void {
    if (this.abortedArmed) return;
    this.abortedArmed = true;
    res.onAborted(() => this.onAborted());
  }

  private onAborted(): void {
    this.res = null;
    this.freeSpill();
    if (this.aborting) return;
    const h = this.handler;
    // after end() the handler hears of it only while it waits for the tail of the body
    if (h !== null && (!this.ended || this.waiting)) {
      this.waiting = false;
      h.onClientAborted();
    }
  }

  // ---- the request body ------------------------------------------------------------------------

  readBody(): void {
    if (this.reading || this.bodyLength === BODY_NONE) return;
    this.reading = true;
    const early = this.early;
    if (early !== null) {
      // attached by leaveHandler already: deliver what came meanwhile
      this.early = null;
      for (const b of early) this.handler?.onClientBody(b, 0, b.length, false);
      if (this.earlyLast) this.handler?.onClientBody(Buffer.alloc(0), 0, 0, true);
      this.res?.resume();
      return;
    }
    this.res?.onData((ab, isLast) => this.onData(ab, isLast));
  }

  private onData(ab: ArrayBuffer, isLast: boolean): void {
    if (this.early !== null) {
      // uWS neuters the ArrayBuffer when we return: copy it, and hold the client until readBody
      if (ab.byteLength > 0) this.early.push(Buffer.copyBytesFrom(new Uint8Array(ab)));
      if (isLast) this.earlyLast = true;
      else this.res?.pause();
      return;
    }
    this.handler?.onClientBody(Buffer.from(ab), 0, ab.byteLength, isLast);
  }

  pauseBody(): void {
    this.res?.pause();
  }

  resumeBody(): void {
    this.res?.resume();
  }

  // ---- the response ------------------------------------------------------------------------------

  writeInterim(): void {
    // uWS cannot send a 1xx response before the final one (README "What the uWS engine cannot do")
  }

  writeStatus(code: number, reason: string): void {
    this.res?.writeStatus(statusLine(code, reason));
  }

  writeHeader(name: string, value: string | Buffer): void {
    // uWS writes its own Date
    if (name.length === 4 && name.toLowerCase() === 'date') return;
    this.res?.writeHeader(name, value);
  }

  endHead(body: number, close: boolean): void {
    const res = this.res;
    if (res === null) return;
    if (close || uwsState.closing) res.writeHeader('Connection', 'close');
    if (body === ResponseBody.None) {
      // Content-Length only if the caller wrote one (HEAD, 304)
      res.endWithoutBody();
      this.complete();
    } else if (body === 0) {
      res.end();
      this.complete();
    } else this.total = body;
  }

  write(buf: Buffer, start: number, end: number): boolean {
    const res = this.res;
    if (res === null || this.total === TOTAL_NONE) return true;
    const chunk = buf.subarray(start, end);
    this.bytesWritten += chunk.length;
    if (this.spill !== null) {
      // still waiting for the client to take the previous part: keep this one too
      this.spill = Buffer.concat([this.spill, chunk]);
      this.freeSpillBuf();
      return false;
    }
    if (this.inCork && this.total < 0) {
      (this.deferred ??= []).push(Buffer.from(chunk));
      return true;
    }
    if (this.inCork || uwsState.inHandler) return this.writeNow(chunk);
    cEx = this;
    cBuf = chunk;
    res.cork(corkedWrite);
    cEx = cBuf = null;
    return cOk;
  }

  /** writeNow writes a body piece (inside a cork). */
  writeNow(chunk: Buffer): boolean {
    const res = this.res!;
    const total = this.total;
    if (total < 0) {
      if (res.write(chunk)) return true;
      this.waitWritable(res);
      return false;
    }
    this.written += chunk.length;
    if (chunk.length === total && this.written === total) {
      // the whole body in one piece (most responses): end() sends what the socket takes and keeps
      // the rest in uWS's buffer; no offset bookkeeping, and no [ok, done] array from tryEnd
      res.end(chunk);
      this.complete();
      return true;
    }
    const base = res.getWriteOffset();
    const [ok, done] = res.tryEnd(chunk, total);
    if (done) {
      this.complete();
      return true;
    }
    if (ok) return true;
    // uWS took only part of it: keep a copy (the caller's buffer is not ours) and wait
    this.spill = this.copyToSpill(chunk);
    this.spillBase = base;
    this.waitWritable(res);
    return false;
  }

  private copyToSpill(chunk: Buffer): Buffer {
    if (chunk.length > SPILL_BYTES) return Buffer.from(chunk);
    const b = spillFree.pop() ?? Buffer.allocUnsafeSlow(SPILL_BYTES);
    chunk.copy(b, 0);
    this.spillBuf = b;
    return b.subarray(0, chunk.length);
  }

  /** freeSpillBuf recycles the spill buffer once nothing refers to it (spill is null or a copy). */
  private freeSpillBuf(): void {
    const b = this.spillBuf;
    if (b === null) return;
    this.spillBuf = null;
    if (spillFree.length < SPILL_KEEP) spillFree.push(b);
  }

  private freeSpill(): void {
    this.spill = null;
    this.freeSpillBuf();
  }

  private waitWritable(res: HttpResponse): void {
    this.waiting = true;
    if (this.writableArmed) return;
    this.writableArmed = true;
    this.armAborted(res);
    res.onWritable((offset) => this.onWritable(offset));
  }

  private onWritable(offset: number): boolean {
    const res = this.res;
    if (res === null) return true;
    const spill = this.spill;
    if (spill !== null) {
      const [ok, done] = res.tryEnd(spill.subarray(offset - this.spillBase), this.total);
      if (done) {
        this.freeSpill();
        this.complete();
      } else if (!ok) return false;
      else this.freeSpill();
    }
    if (this.waiting) {
      this.waiting = false;
      this.handler?.onClientWritable();
    }
    return true;
  }

  end(): void {
    const res = this.res;
    if (this.ended) return;
    this.ended = true;
    if (res === null || this.total !== -1) return; // complete already, or tryEnd completes it
    if (this.inCork) {
      this.endDeferred = true;
      return;
    }
    if (uwsState.inHandler) this.endNow();
    else {
      cEx = this;
      res.cork(corkedEnd);
      cEx = null;
    }
  }

  /** endNow completes a response of unknown length (inside a cork). */
  endNow(): void {
    this.res!.end();
    this.complete();
    if (this.waiting) {
      // uWS holds what the client has not taken: the caller may forget it now
      this.waiting = false;
      this.handler?.onClientWritable();
    }
  }

  private complete(): void {
    this.total = TOTAL_NONE;
    this.ended = true;
    if (this.spill === null) this.res = null;
  }

  respond(code: number, reason: string, fields: readonly (string | Buffer)[], body: Buffer | string | null, close: boolean): void {
    const res = this.res;
    if (res === null || this.ended) return;
    this.ended = true;
    const line = statusLine(code, reason);
    if (this.inCork || uwsState.inHandler) this.respondNow(line, fields, body, close);
    else {
      cEx = this;
      cLine = line;
      cFields = fields;
      cBody = body;
      cClose = close;
      res.cork(corkedRespond);
      cEx = cBody = null;
      cFields = [];
    }
  }

  /** respondNow writes a whole response (inside a cork). */
  respondNow(line: string, fields: readonly (string | Buffer)[], body: Buffer | string | null, close: boolean): void {
    const res = this.res!;
    res.writeStatus(line);
    for (let i = 0; i < fields.length; i += 2) res.writeHeader(fields[i]!, fields[i + 1]!);
    if (body !== null) this.bytesWritten += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    res.end(body ?? '', close || uwsState.closing);
    this.complete();
  }

  abort(): void {
    const res = this.res;
    this.ended = true;
    if (res === null) return;
    this.aborting = true;
    this.res = null;
    this.freeSpill();
    res.close();
  }

  cork(fn: () => void): void {
    const res = this.res;
    if (res === null || this.inCork) return fn();
    this.inCork = true;
    res.cork(fn);
    this.inCork = false;
    if (this.deferred !== null || this.endDeferred) this.flushDeferred();
  }

  /** flushDeferred writes what a cork held back (see the file comment). */
  private flushDeferred(): void {
    const pieces = this.deferred;
    const end = this.endDeferred;
    this.deferred = null;
    this.endDeferred = false;
    const res = this.res;
    if (res === null) return;
    if (pieces !== null) {
      for (const b of pieces) {
        cEx = this;
        cBuf = b;
        res.cork(corkedWrite);
        cEx = cBuf = null;
      }
    }
    if (end) {
      cEx = this;
      res.cork(corkedEnd);
      cEx = null;
    }
  }

  detach(): null {
    return null; // uWS keeps its connections (README "What the uWS engine cannot do")
  }

  /**
   * upgrade completes a WebSocket upgrade (the uWS WebSocket front): the 101 with `fields`, then
   * uWS owns the connection. The exchange ends.
   */
  upgrade<U>(userData: U, key: string, protocol: string, context: SocketContext, fields: readonly string[] | null): void {
    const res = this.res;
    if (res === null || this.ended) return;
    this.ended = true;
    this.res = null;
    res.cork(() => {
      if (fields !== null) {
        res.writeStatus('101 Switching Protocols');
        for (let i = 0; i < fields.length; i += 2) res.writeHeader(fields[i]!, fields[i + 1]!);
      }
      res.upgrade<U>(userData, key, protocol, '', context);
    });
  }
}
