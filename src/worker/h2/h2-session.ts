/**
 * H2Connection drives one client's HTTP/2 connection (RFC 9113) on node:http2: the socket (a TLS
 * socket that negotiated "h2" by ALPN, or a plain one that sent the h2c preface) becomes a
 * node:http2 server session (http2.performServerHandshake: no http2.Server, no allowHTTP1 detour
 * through node:http), and each stream one H2Exchange handed to the worker's handler.
 *
 * Lifetime, with the engine's timer sweep (engine/timeouts.ts, no timer per connection): the
 * first stream must open within timeouts.headerMs, a connection with no open stream is closed
 * after timeouts.keepAliveMs (GOAWAY NO_ERROR), both counted as the HTTP/1.1 engine counts them.
 * While streams are open the proxy's own sweep covers body idle and total request time. drain()
 * sends GOAWAY and lets the open streams finish (node's graceful close).
 *
 * Defences beyond node's own (h2-options.ts), as token buckets per connection:
 * - rapid reset (CVE-2023-44487): streams the client cancels before their response is complete
 *   (RST_STREAM, or a stream reset before it was even dispatched) take a token each from
 *   http2.resetBurst, refilled at http2.resetRatePerSecond. Out of tokens: GOAWAY
 *   ENHANCE_YOUR_CALM and the connection is closed (its other streams with it).
 * - PING and SETTINGS floods: each PING or SETTINGS frame takes a token from
 *   http2.controlFrameBurst, refilled at controlFrameRatePerSecond; out of tokens, the same.
 * Each such close counts in fulcrum_http2_connections_closed_total{reason}.
 */
import http2 from 'node:http2';
import type net from 'node:net';
import { log } from '../../log.js';
import type { ClientPeer, RequestHandler } from '../engine/exchange.js';
import { clientPeer } from '../engine/peer.js';
import { now, type Timed, track, untrack, Wait } from '../engine/timeouts.js';
import { H2Exchange } from './h2-exchange.js';
import { controlFloods, rapidResets, TokenBucket } from './h2-limits.js';
import type { H2Options } from './h2-options.js';
import { timedOut } from './h2-timeouts.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** What a connection needs from the front that accepted it. */
export interface H2Host {
  readonly handler: RequestHandler;
  /** the connection closed (either implementation: h2-session.ts or conn.ts) */
  forget(c: { drain(): void }): void;
}

/** The session's connection, where node's events find it. */
const CONNECTION = Symbol('fulcrum.h2.connection');
type Session = http2.ServerHttp2Session & { [CONNECTION]?: H2Connection };

export class H2Connection implements Timed {
  readonly peer: ClientPeer;
  readonly secure: boolean;
  readonly session: Session;
  draining = false;
  // Timed
  wait = Wait.Head;
  deadline: number;
  slot = -1;

  /** streams with an exchange, not closed yet */
  private open = 0;
  private readonly resets: TokenBucket;
  private readonly controlFrames: TokenBucket;

  constructor(
    private readonly host: H2Host,
    private readonly socket: net.Socket,
    readonly options: H2Options,
  ) {
    this.peer = clientPeer(socket.remoteAddress);
    this.secure = (socket as { encrypted?: boolean }).encrypted === true;
    this.resets = new TokenBucket(options.resetBurst, options.resetRatePerSecond);
    this.controlFrames = new TokenBucket(options.controlFrameBurst, options.controlFrameRatePerSecond);
    this.deadline = now() + options.engine.headerMs;
    // tls.Server clears this when it emits 'secureConnection'; a TLSSocket made by the engine keeps
    // it set after 'secure', and node:http2 would wait for a 'secureConnect' that never comes
    const ts = socket as { secureConnecting?: boolean };
    if (ts.secureConnecting === true) ts.secureConnecting = false;
    const s = http2.performServerHandshake(socket, options.session) as Session;
    this.session = s;
    s[CONNECTION] = this;
    s.on('stream', onStream);
    s.on('error', onSessionError);
    s.on('close', onSessionClose);
    s.on('ping', onControlFrame);
    s.on('remoteSettings', onControlFrame);
    // the listeners allow half-open sockets (for HTTP/1.1); an HTTP/2 client's FIN means it is
    // gone (it can send no WINDOW_UPDATE any more): close, as the HTTP/1.1 engine does
    socket.once('end', () => s.destroy());
    track(this);
  }

  /** GOAWAY sent or about to be (exchange-base.ts StreamOwner) */
  get closing(): boolean {
    return this.draining;
  }

  // ---- streams ----------------------------------------------------------------------------

  stream(stream: http2.ServerHttp2Stream, flags: number, raw: string[]): void {
    if (stream.destroyed || stream.closed) {
      this.cancelled(); // reset before it could be dispatched: the rapid reset pattern
      return;
    }
    const ex = new H2Exchange(this, stream, raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    this.open++;
    this.wait = Wait.None;
    if (ex.refused !== 0) {
      ex.refuse();
      return;
    }
    try {
      this.host.handler(ex);
    } catch (err) {
      log.error('request handler threw', { error: (err as Error)?.stack ?? String(err) });
      ex.respond(500, 'Internal Server Error', [], '500 Internal Server Error\n', true);
      ex.abort();
    }
  }

  /** streamClosed: a stream with an exchange closed; `cancelled`: by the client, before its response was complete. */
  streamClosed(_ex: H2Exchange, cancelled: boolean): void {
    this.open--;
    if (cancelled) this.cancelled();
    if (this.open === 0) this.idle();
  }

  /** idle: no stream is open; a closing connection lingers (for the peer to close), an open one waits for its next stream. */
  private idle(): void {
    const s = this.session;
    const closing = this.draining || s.closed || s.destroyed;
    this.wait = closing ? Wait.Linger : Wait.KeepAlive;
    this.deadline = now() + (closing ? this.options.engine.lingerMs : this.options.engine.keepAliveMs);
  }

  private cancelled(): void {
    if (this.resets.take()) return;
    rapidResets.inc();
    this.calm('rapid reset');
  }

  /** controlFrame: a PING or SETTINGS frame arrived. */
  controlFrame(): void {
    if (this.controlFrames.take()) return;
    controlFloods.inc();
    this.calm('PING/SETTINGS flood');
  }

  /** calm closes an abusive connection: GOAWAY ENHANCE_YOUR_CALM, then the socket (its streams are aborted). */
  private calm(what: string): void {
    if (this.session.destroyed) return;
    log.warn('HTTP/2 client disconnected', { ip: this.peer.ip, reason: what });
    this.session.destroy(new Error(`HTTP/2 client disconnected: ${what}`), NGHTTP2_ENHANCE_YOUR_CALM);
  }

  // ---- lifetime ---------------------------------------------------------------------------

  /** drain: GOAWAY now; the connection closes once its open streams are done. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    if (!this.session.closed && !this.session.destroyed) this.session.close();
    if (this.open === 0) this.idle();
  }

  /**
   * expire: the first stream did not come within headerMs, or the connection was idle for
   * keepAliveMs: GOAWAY NO_ERROR and close (node's graceful close). A closing connection whose
   * peer does not close its side within lingerMs is destroyed.
   */
  expire(): void {
    if (!timedOut(this, this.socket)) return;
    this.draining = true;
    const s = this.session;
    if (!s.closed && !s.destroyed) s.close();
    this.idle();
  }

  gone(): void {
    this.wait = Wait.None;
    untrack(this);
    this.host.forget(this);
  }
}

function onStream(this: Session, stream: http2.ServerHttp2Stream, _headers: unknown, flags: number, raw: string[]): void {
  this[CONNECTION]?.stream(stream, flags, raw);
}

function onControlFrame(this: Session): void {
  this[CONNECTION]?.controlFrame();
}

function onSessionError(this: Session, err: NodeJS.ErrnoException): void {
  const c = this[CONNECTION];
  if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE' && err.code !== 'ERR_HTTP2_SESSION_ERROR')
    log.debug('HTTP/2 client connection error', { ip: c?.peer.ip, error: err.code ?? err.message });
}

function onSessionClose(this: Session): void {
  const c = this[CONNECTION];
  if (c === undefined) return;
  this[CONNECTION] = undefined;
  c.gone();
}
