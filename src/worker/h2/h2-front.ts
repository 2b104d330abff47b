/**
 * The HTTP/2 front of a worker: createH2Handler returns what the engine's listeners call with the
 * sockets that speak HTTP/2 (listener.ts `otherProtocol`: TLS sockets that negotiated "h2" by
 * ALPN, and with listen.h2c plain sockets that sent the HTTP/2 preface), and what the worker
 * calls to drain them. Every stream goes to the same request handler as HTTP/1.1 requests, as one
 * ClientExchange (h2-exchange.ts): routing, limits, cache, compression, balancing, retries,
 * metrics and the access log need nothing of their own for HTTP/2. Upstream stays HTTP/1.1.
 *
 * The options are read through a getter at each new connection, so that a reload applies to
 * connections opened after it (the worker builds them per config generation: h2Options).
 *
 * Each implementation is imported when a config first offers HTTP/2 with it (loadH2: the worker
 * waits for it before a generation with tls.http2 or listen.h2c takes connections, at start and
 * on a reload that switches http2.implementation), so that a worker holds only what it serves
 * with (importing node:http2 and the session code after conn.ts measured 0.4-0.5 MiB of RSS on
 * Node 20; nghttp2's own memory comes with each session).
 */
import type net from 'node:net';
import type { RequestHandler } from '../engine/exchange.js';
import type { H2Options } from './h2-options.js';
import type { H2Host } from './h2-session.js';

let session: typeof import('./h2-session.js') | null = null;
let own: typeof import('./conn.js') | null = null;
let loadingSession: Promise<void> | null = null;
let loadingOwn: Promise<void> | null = null;

/** loadH2 imports one implementation (once): node:http2 with the session code ("node"), or fulcrum's own frame layer (conn.ts). */
export function loadH2(implementation: H2Options['implementation']): Promise<void> {
  if (implementation === 'fulcrum')
    return (loadingOwn ??= import('./conn.js').then((c) => {
      own = c;
    }));
  return (loadingSession ??= import('./h2-session.js').then((s) => {
    session = s;
  }));
}

export interface H2Front {
  /** accept takes a socket that speaks HTTP/2 (the listeners' otherProtocol hook) */
  readonly accept: (socket: net.Socket) => void;
  /** drain sends GOAWAY on every connection; each closes once its open streams are done, and later ones at once after their first streams */
  drain(): void;
  /** live HTTP/2 connections */
  readonly connections: number;
}

/** createH2Handler builds the HTTP/2 front for `handler`, reading the current options through `options`. */
export function createH2Handler(handler: RequestHandler, options: () => H2Options): H2Front {
  return new Front(handler, options);
}

class Front implements H2Front, H2Host {
  private readonly conns = new Set<{ drain(): void }>();
  private draining = false;

  constructor(
    readonly handler: RequestHandler,
    private readonly options: () => H2Options,
  ) {}

  readonly accept = (socket: net.Socket): void => {
    if (socket.destroyed) return;
    const o = this.options();
    let c: { drain(): void };
    try {
      if (o.implementation === 'fulcrum') {
        if (own === null) return this.later(socket, o);
        c = new own.FrameConnection(this, socket, o);
      } else {
        if (session === null) return this.later(socket, o);
        c = new session.H2Connection(this, socket, o);
      }
    } catch {
      socket.destroy(); // already bound or gone
      return;
    }
    this.conns.add(c);
    if (this.draining) c.drain();
  };

  /**
   * later: the implementation is not loaded (the worker loads it before a generation takes
   * connections; this is for a front used without a worker): the connection waits for the import,
   * keeping what it sent
   */
  private later(socket: net.Socket, o: H2Options): void {
    void loadH2(o.implementation).then(() => this.accept(socket));
  }

  drain(): void {
    this.draining = true;
    for (const c of this.conns) c.drain();
  }

  get connections(): number {
    return this.conns.size;
  }

  forget(c: { drain(): void }): void {
    this.conns.delete(c);
  }
}
