/**
 * FrameConnection: one client's HTTP/2 connection (RFC 9113) on fulcrum's own frame layer
 * (http2.implementation "fulcrum"), the counterpart of h2-session.ts's node:http2 session: the
 * socket's bytes are cut into frames (frames.ts), header blocks decoded (hpack.ts), and each
 * stream becomes one StreamExchange (stream-exchange.ts) handed to the worker's handler.
 *
 * - Preface and SETTINGS (3.4, 6.5): the client's preface must be followed by SETTINGS; ours
 *   (MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE) go first, and an ACK must come within
 *   options.settingsAckMs (else GOAWAY SETTINGS_TIMEOUT, 6.5.3). PING is answered (6.7).
 * - Streams (5.1): a client stream id above every earlier one opens a stream (an even one, or a
 *   HEADERS frame on an id the client skipped, is PROTOCOL_ERROR, 5.1.1); frames other than
 *   HEADERS and PRIORITY on idle streams are PROTOCOL_ERROR. HEADERS or DATA after the client's
 *   END_STREAM on an open stream are a stream error STREAM_CLOSED (half-closed remote); on a
 *   closed stream what they get depends on how it closed (stream-states.ts: a connection error
 *   STREAM_CLOSED after END_STREAM both ways, a stream error STREAM_CLOSED after the client's
 *   RST_STREAM, nothing after ours: they may have crossed it). WINDOW_UPDATE, RST_STREAM and
 *   PRIORITY on closed streams are ignored. Beyond maxConcurrentStreams a stream is refused
 *   (REFUSED_STREAM, 5.1.2). Trailers are decoded (the HPACK context needs them) and dropped.
 * - Header blocks (4.3, 6.10, header-block.ts): HEADERS + CONTINUATION assembled (bounded: the
 *   CONTINUATION flood), decoded (an error is COMPRESSION_ERROR for the connection), and checked
 *   as nghttp2 checks requests: a malformed request or trailers is RST_STREAM PROTOCOL_ERROR
 *   (8.1.1); a list over maxHeaderListBytes resets its stream (ENHANCE_YOUR_CALM), as node:http2.
 * - Frames of fixed size (controlFrameError in frames.ts) are checked from their header, before
 *   their payload has arrived.
 * - Flow control (5.2, 6.9), both ways. Receiving: the connection's window is CONN_RECV_WINDOW
 *   and given back as DATA arrives (what a stream buffers is bounded by its own window); a
 *   stream's window (65535) is given back only as its exchange delivers the body to the handler,
 *   so a paused upload stops its client. Sending: DATA goes out as the client's windows allow
 *   (INITIAL_WINDOW_SIZE changes apply to open streams); what does not fit waits in the stream.
 * - Writes (frame-writer.ts): frames go into a pooled arena and leave once per event-loop turn, one
 *   socket write per connection. While the socket is backed up (SOCKET_HIGH octets wait in it,
 *   until 'drain') or a turn has framed OUT_HIGH octets of DATA, no more DATA is framed: the streams
 *   keep it and say so to their callers (TLS backpressure reaches upstream).
 * - Defences as on node:http2 (h2-limits.ts): rapid resets and refused streams take from the
 *   reset bucket, PING and SETTINGS frames from the control bucket; out of tokens: GOAWAY
 *   ENHANCE_YOUR_CALM.
 * - Lifetime with the engine's timer sweep, as h2-session.ts: the first stream within headerMs,
 *   idle keepAliveMs, GOAWAY on drain with open streams finishing, lingerMs for the peer to close.
 */
import type net from 'node:net';
import { log } from '../../log.js';
import type { ClientPeer } from '../engine/exchange.js';
import { clientPeer } from '../engine/peer.js';
import { now, type Timed, track, untrack, Wait } from '../engine/timeouts.js';
import { FrameWriter } from './frame-writer.js';
import * as F from './frames.js';
import { controlFloods, rapidResets, TokenBucket } from './h2-limits.js';
import type { H2Options } from './h2-options.js';
import { timedOut } from './h2-timeouts.js';
import type { H2Host } from './h2-session.js';
import { type BlockTarget, HeaderBlocks } from './header-block.js';
import { StreamExchange } from './stream-exchange.js';
import { Closed, ClosedStreams } from './stream-states.js';

/** the connection-level receive window we keep open (6.9.2: raised from 65535 by a WINDOW_UPDATE after our SETTINGS) */
const CONN_RECV_WINDOW = 1 << 20;
/** DATA octets one connection frames per event-loop turn; the rest waits for the next turn (one stream cannot fill the socket in one go) */
const OUT_HIGH = 256 * 1024;

export class FrameConnection implements Timed, F.FrameTarget, BlockTarget {
  readonly peer: ClientPeer;
  readonly secure: boolean;
  draining = false;
  reading = true;
  // Timed
  wait = Wait.Head;
  deadline: number;
  slot = -1;

  /** the client's streams not yet closed, by id */
  private readonly streams = new Map<number, StreamExchange>();
  private readonly reader = new F.FrameReader(this);
  private readonly blocks: HeaderBlocks;
  /** how recently closed streams closed, and the ids the client skipped (5.1, 5.1.1) */
  private readonly closedStreams = new ClosedStreams();
  private readonly resets: TokenBucket;
  private readonly controlFrames: TokenBucket;
  /** the highest client stream id seen (5.1.1) */
  private lastId = 0;
  private settled = false;
  private goawaySent = false;
  private goawayReceived = false;
  private gone = false;
  private settingsTimer: NodeJS.Timeout | null = null;
  /** receive flow control: the connection window left, and what arrived since the last WINDOW_UPDATE */
  private recvWindow = CONN_RECV_WINDOW;
  private recvUnacked = 0;
  /** send flow control: the client's connection window and its SETTINGS_INITIAL_WINDOW_SIZE */
  private sendWindow = F.DEFAULT_WINDOW;
  initialWindow = F.DEFAULT_WINDOW;
  /** streams holding DATA for lack of window or because the socket is backed up */
  private readonly blocked: StreamExchange[] = [];
  private pumping = false;
  private readonly out: FrameWriter;

  constructor(
    private readonly host: H2Host,
    private readonly socket: net.Socket,
    readonly options: H2Options,
  ) {
    this.peer = clientPeer(socket.remoteAddress);
    this.secure = (socket as { encrypted?: boolean }).encrypted === true;
    this.blocks = new HeaderBlocks(this);
    this.resets = new TokenBucket(options.resetBurst, options.resetRatePerSecond);
    this.controlFrames = new TokenBucket(options.controlFrameBurst, options.controlFrameRatePerSecond);
    this.deadline = now() + options.engine.headerMs;
    this.out = new FrameWriter(socket, () => {
      // what OUT_HIGH held back goes into the next turn
      if (!this.out.congested && this.out.framed < OUT_HIGH && this.blocked.length > 0) this.pump();
    });
    this.out.settings(options.maxConcurrentStreams, options.maxHeaderListBytes, CONN_RECV_WINDOW - F.DEFAULT_WINDOW, options.webSockets);
    this.settingsTimer = setTimeout(onSettingsTimeout, options.settingsAckMs, this);
    this.settingsTimer.unref();
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', ignore);
    socket.on('close', this.onClose);
    // the listeners allow half-open sockets (for HTTP/1.1); an HTTP/2 client's FIN means it is gone
    socket.on('end', this.onEnd);
    track(this);
    if (socket.isPaused()) socket.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.reading) return;
    try {
      this.reader.read(chunk);
    } catch (err) {
      // a handler's callback threw while a frame was handled: this connection ends, the worker stays up
      log.error('HTTP/2 connection failed', { ip: this.peer.ip, error: (err as Error)?.stack ?? String(err) });
      this.fail(F.INTERNAL_ERROR);
    }
  };
  private readonly onDrain = (): void => {
    this.out.congested = false;
    this.pump();
  };
  private readonly onEnd = (): void => {
    this.socket.destroy();
  };
  private readonly onClose = (): void => this.closed();

  // ---- frames in --------------------------------------------------------------------------

  framingError(code: number): void {
    this.fail(code);
  }

  frameStart(type: number, flags: number, id: number, length: number): void {
    const code = F.controlFrameError(type, flags, id, length);
    if (code !== 0) this.fail(code);
  }

  frame(type: number, flags: number, id: number, buf: Buffer, s: number, e: number): void {
    if (!this.settled) {
      if (type !== F.SETTINGS || flags & F.ACK) return this.fail(F.PROTOCOL_ERROR); // 3.4
      this.settled = true;
    }
    const block = this.blocks.blockId;
    if (block !== 0 && (type !== F.CONTINUATION || id !== block)) return this.fail(F.PROTOCOL_ERROR); // 6.10
    const bad = F.controlFrameError(type, flags, id, e - s);
    if (bad !== 0) return this.fail(bad);
    switch (type) {
      case F.DATA:
        return this.data(flags, id, buf, s, e);
      case F.HEADERS:
        if (id === 0 || (id & 1) === 0) return this.fail(F.PROTOCOL_ERROR); // client streams are odd (5.1.1)
        return this.blocks.headers(flags, id, buf, s, e);
      case F.CONTINUATION:
        return this.blocks.continuation(flags, id, buf, s, e);
      case F.PRIORITY:
        // RFC 7540 5.3.1: a stream cannot depend on itself (nghttp2: a connection error, as here)
        if ((buf.readUInt32BE(s) & 0x7fffffff) === id) return this.fail(F.PROTOCOL_ERROR);
        return; // priorities are not kept (RFC 9113 5.3.2 deprecates the scheme); any stream state is fine (6.3)
      case F.RST_STREAM:
        return this.rstStream(id);
      case F.SETTINGS:
        return this.settings(flags, id, buf, s, e);
      case F.PUSH_PROMISE:
        return this.fail(F.PROTOCOL_ERROR); // 8.4: clients never push
      case F.PING:
        if (flags & F.ACK) return; // we send no PING of our own
        if (!this.controlFrames.take()) return this.calm(controlFloods, 'PING/SETTINGS flood');
        return this.out.pingAck(buf, s);
      case F.GOAWAY:
        this.goawayReceived = true;
        if (this.streams.size === 0) this.finish();
        return;
      case F.WINDOW_UPDATE:
        return this.windowUpdate(id, buf, s, e);
      default:
        return; // 4.1: unknown frame types are ignored
    }
  }

  private data(flags: number, id: number, buf: Buffer, s: number, e: number): void {
    if (id === 0) return this.fail(F.PROTOCOL_ERROR);
    if (id > this.lastId) return this.fail(F.PROTOCOL_ERROR); // DATA on an idle stream (5.1)
    const len = e - s;
    if (len > this.recvWindow) return this.fail(F.FLOW_CONTROL_ERROR);
    this.recvWindow -= len;
    this.recvUnacked += len;
    if (this.recvUnacked >= CONN_RECV_WINDOW / 2) {
      this.sendWindowUpdate(0, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    let pad = 0;
    if (flags & F.PADDED) {
      if (len < 1) return this.fail(F.FRAME_SIZE_ERROR);
      pad = buf[s++]! + 1;
      e -= pad - 1;
      if (e < s) return this.fail(F.PROTOCOL_ERROR); // 6.1
    }
    const ex = this.streams.get(id);
    // closed (its window was counted above, 6.9): as it closed says (6.1: STREAM_CLOSED; ignored after our RST_STREAM)
    if (ex === undefined) return this.onClosed(id);
    if (ex.remoteEnded) return this.resetStream(ex, F.STREAM_CLOSED); // half-closed (remote): a stream error (5.1)
    ex.data(buf, s, e, pad, (flags & F.END_STREAM) !== 0);
  }

  /** onClosed: DATA or HEADERS on a stream that is no longer open (stream-states.ts says why each answer) */
  private onClosed(id: number): void {
    switch (this.closedStreams.kind(id)) {
      case Closed.Ended:
        return this.fail(F.STREAM_CLOSED);
      case Closed.PeerReset:
        this.closedStreams.reset(id);
        return this.out.rst(id, F.STREAM_CLOSED);
      default:
        return; // reset by us (it may have crossed our RST_STREAM), or forgotten: ignored
    }
  }

  /** headerBlock: a whole header block, decoded (HeaderBlocks): a new stream's request, or trailers */
  headerBlock(id: number, endStream: boolean, tooLarge: boolean): void {
    const b = this.blocks;
    if (id <= this.lastId) {
      const ex = this.streams.get(id);
      if (ex === undefined) {
        if (this.closedStreams.neverOpened(id)) return this.fail(F.PROTOCOL_ERROR); // a new stream below the highest (5.1.1)
        return this.onClosed(id); // trailers that crossed our END_STREAM or RST_STREAM, or HEADERS on a closed stream
      }
      if (ex.remoteEnded) return this.resetStream(ex, F.STREAM_CLOSED); // half-closed (remote): a stream error (5.1)
      if (!endStream || !b.validTrailers) return this.resetStream(ex, F.PROTOCOL_ERROR); // trailers end the stream, no pseudo fields (8.1)
      ex.data(EMPTY, 0, 0, 0, true); // trailers dropped: the body ends
      return;
    }
    if (id > this.lastId + 2) this.closedStreams.skipped(this.lastId + 2, id - 2); // 5.1.1: the ids between are closed
    this.lastId = id;
    if (this.goawaySent) return; // 6.8: streams after our GOAWAY are ignored
    if (tooLarge) return this.sendRst(id, F.ENHANCE_YOUR_CALM);
    if (!b.validRequest) return this.sendRst(id, F.PROTOCOL_ERROR); // malformed (8.1.1)
    if (this.streams.size >= this.options.maxConcurrentStreams) {
      this.sendRst(id, F.REFUSED_STREAM);
      if (!this.resets.take()) this.calm(rapidResets, 'refused streams');
      return;
    }
    const ex = new StreamExchange(this, id, b.fields, endStream);
    this.streams.set(id, ex);
    this.wait = Wait.None;
    ex.dispatch(this.host.handler);
  }

  private rstStream(id: number): void {
    if (id > this.lastId) return this.fail(F.PROTOCOL_ERROR); // idle (5.1)
    const ex = this.streams.get(id);
    if (ex === undefined) return; // closed: it may have crossed our END_STREAM or RST_STREAM (5.1)
    const complete = ex.complete;
    this.streamDone(ex, Closed.PeerReset);
    ex.clientGone();
    if (!complete && !this.resets.take()) this.calm(rapidResets, 'rapid reset');
  }

  private settings(flags: number, id: number, buf: Buffer, s: number, e: number): void {
    if (id !== 0) return this.fail(F.PROTOCOL_ERROR);
    if (flags & F.ACK) {
      if (e !== s) return this.fail(F.FRAME_SIZE_ERROR);
      if (this.settingsTimer !== null) clearTimeout(this.settingsTimer);
      this.settingsTimer = null;
      return;
    }
    if ((e - s) % 6 !== 0) return this.fail(F.FRAME_SIZE_ERROR);
    if (!this.controlFrames.take()) return this.calm(controlFloods, 'PING/SETTINGS flood');
    for (let p = s; p < e; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      if ((key === F.SETTINGS_ENABLE_PUSH || key === F.SETTINGS_ENABLE_CONNECT_PROTOCOL) && v > 1) return this.fail(F.PROTOCOL_ERROR);
      if (key === F.SETTINGS_MAX_FRAME_SIZE && (v < F.MAX_FRAME_BYTES || v > 16777215)) return this.fail(F.PROTOCOL_ERROR);
      if (key === F.SETTINGS_INITIAL_WINDOW_SIZE) {
        if (v > F.MAX_WINDOW) return this.fail(F.FLOW_CONTROL_ERROR);
        // 6.9.2: the change applies to every open stream's send window
        const delta = v - this.initialWindow;
        this.initialWindow = v;
        for (const ex of this.streams.values()) if (!ex.addSendWindow(delta)) return this.fail(F.FLOW_CONTROL_ERROR);
      }
      // HEADER_TABLE_SIZE: our encoder never indexes; MAX_FRAME_SIZE: we never send more than 16384;
      // MAX_CONCURRENT_STREAMS: we never push; MAX_HEADER_LIST_SIZE: advisory
    }
    this.out.settingsAck();
    this.pump();
  }

  private windowUpdate(id: number, buf: Buffer, s: number, e: number): void {
    if (e - s !== 4) return this.fail(F.FRAME_SIZE_ERROR);
    const inc = buf.readUInt32BE(s) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) return this.fail(F.PROTOCOL_ERROR);
      this.sendWindow += inc;
      if (this.sendWindow > F.MAX_WINDOW) return this.fail(F.FLOW_CONTROL_ERROR);
      return this.pump();
    }
    if (id > this.lastId) return this.fail(F.PROTOCOL_ERROR);
    const ex = this.streams.get(id);
    if (ex === undefined) return; // closed: may still arrive (6.9)
    if (inc === 0) return this.resetStream(ex, F.PROTOCOL_ERROR);
    if (!ex.addSendWindow(inc)) return this.resetStream(ex, F.FLOW_CONTROL_ERROR);
    this.pump();
  }

  // ---- frames out (for the exchanges) ------------------------------------------------------

  /** sendHead writes a response head (HEADERS, and CONTINUATION when over one frame); fields [name, value, ...], names lowercase */
  sendHead(id: number, status: number, fields: readonly (string | Buffer)[], endStream: boolean): void {
    this.out.head(id, status, fields, endStream);
  }

  /** sendData frames what the windows and the socket allow of buf[s, e) as DATA; returns the octets framed. */
  sendData(ex: StreamExchange, buf: Buffer, s: number, e: number): number {
    const w = this.out;
    let p = s;
    while (p < e && !w.congested && w.framed < OUT_HIGH) {
      const n = Math.min(e - p, F.MAX_FRAME_BYTES, ex.sendWindow, this.sendWindow);
      if (n <= 0) break;
      w.data(ex.id, buf, p, n);
      ex.sendWindow -= n;
      this.sendWindow -= n;
      p += n;
    }
    return p - s;
  }

  /** sendEnd ends a stream's response (END_STREAM) */
  sendEnd(id: number): void {
    this.out.end(id);
  }

  /** hold: the stream keeps DATA the windows or the socket did not take; pump() sends it later */
  hold(ex: StreamExchange): void {
    this.blocked.push(ex);
  }

  /** sendWindowUpdate gives `inc` octets of receive window back (a stream's as its body is delivered, or the connection's) */
  sendWindowUpdate(id: number, inc: number): void {
    this.out.windowUpdate(id, inc);
  }

  /** resetStream ends a stream with RST_STREAM (a stream error, 5.4.2, or our abort) */
  resetStream(ex: StreamExchange, code: number): void {
    this.sendRst(ex.id, code);
    this.streamDone(ex);
    ex.clientGone();
  }

  /** sendRst resets a stream (RST_STREAM); frames the client sent on it before it saw that are ignored (5.1) */
  sendRst(id: number, code: number): void {
    this.out.rst(id, code);
    this.closedStreams.note(id, Closed.Reset);
  }

  /** streamDone forgets a stream that closed: both sides ended (a reset noted by sendRst stays a reset), or `how` */
  streamDone(ex: StreamExchange, how: Closed = Closed.Ended): void {
    if (!this.streams.delete(ex.id)) return;
    this.closedStreams.note(ex.id, how);
    if (this.streams.size > 0) return;
    if (this.goawaySent || this.goawayReceived) this.finish();
    else this.idle();
  }

  /** pump sends what held streams kept, round robin one frame each, while the windows and the socket allow */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const b = this.blocked;
    let progress = true;
    while (progress && b.length > 0) {
      progress = false;
      for (let i = 0; i < b.length; ) {
        if (this.out.congested || this.sendWindow <= 0 || this.out.framed >= OUT_HIGH || !this.reading) {
          this.pumping = false;
          return;
        }
        const ex = b[i]!;
        const before = ex.heldBytes;
        const left = ex.sendHeld();
        if (left !== before || left === 0) progress = true;
        if (left === 0) b.splice(i, 1);
        else i++;
      }
    }
    this.pumping = false;
  }

  // ---- lifetime ---------------------------------------------------------------------------

  get closing(): boolean {
    return this.draining || this.goawaySent;
  }

  /** fail: a connection error (5.4.1): GOAWAY with the code, then close */
  fail(code: number): void {
    if (!this.reading) return;
    this.goaway(code);
    this.reading = false;
    this.finish();
  }

  /** calm closes an abusive connection: GOAWAY ENHANCE_YOUR_CALM, counted */
  calm(metric: { inc(): void } | null, what: string): void {
    if (!this.reading) return;
    metric?.inc();
    log.warn('HTTP/2 client disconnected', { ip: this.peer.ip, reason: what });
    this.fail(F.ENHANCE_YOUR_CALM);
  }

  private goaway(code: number): void {
    if (this.goawaySent && code === F.NO_ERROR) return;
    this.goawaySent = true;
    this.out.goaway(this.lastId, code);
  }

  /** finish closes the connection once its last frames are out: open streams are cut, the peer has lingerMs to close */
  private finish(): void {
    this.reading = false;
    for (const ex of [...this.streams.values()]) {
      this.streams.delete(ex.id);
      ex.clientGone();
    }
    this.out.flush();
    this.socket.end();
    this.wait = Wait.Linger;
    this.deadline = now() + this.options.engine.lingerMs;
  }

  /** idle: no stream is open; the connection waits for its next one */
  private idle(): void {
    this.wait = Wait.KeepAlive;
    this.deadline = now() + this.options.engine.keepAliveMs;
  }

  /** drain: GOAWAY now; the connection closes once its open streams are done */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.goaway(F.NO_ERROR);
    if (this.streams.size === 0) this.finish();
  }

  settingsTimeout(): void {
    this.settingsTimer = null;
    this.fail(F.SETTINGS_TIMEOUT);
  }

  /** expire: no first stream within headerMs, idle for keepAliveMs (GOAWAY NO_ERROR), or a closing peer that lingers */
  expire(): void {
    if (!timedOut(this, this.socket)) return;
    this.draining = true;
    this.goaway(F.NO_ERROR);
    this.finish();
  }

  private closed(): void {
    if (this.gone) return;
    this.gone = true;
    this.reading = false;
    if (this.settingsTimer !== null) clearTimeout(this.settingsTimer);
    for (const ex of [...this.streams.values()]) {
      this.streams.delete(ex.id);
      ex.clientGone();
    }
    this.blocked.length = 0;
    this.wait = Wait.None;
    untrack(this);
    this.host.forget(this);
  }
}

function onSettingsTimeout(c: FrameConnection): void {
  c.settingsTimeout();
}

function ignore(): void {}

const EMPTY = Buffer.alloc(0);
