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
 * node:http2 and the session code are imported when a config first offers HTTP/2 (loadH2: the
 * engine waits for it before a TLS listener with tls.http2 or a plain one with listen.h2c opens),
 * so that a worker without HTTP/2 does not hold them (~3 MiB of its memory).
 */
import type net from 'node:net';
import type { RequestHandler } from '../engine/exchange.js';
import type { H2Options } from './h2-options.js';
import type { H2Host } from './h2-session.js';

let session: typeof import('./h2-session.js') | null = null;
let own: typeof import('./conn.js') | null = null;
let loading: Promise<void> | null = null;

/**
 * loadH2 imports both implementations (once): node:http2 with the session code, and fulcrum's own
 * frame layer (conn.ts), so that http2.implementation can change on a reload without a wait.
 */
export function loadH2(): Promise<void> {
  loading ??= Promise.all([import('./h2-session.js'), import('./conn.js')]).then(([s, c]) => {
    session = s;
    own = c;
  });
  return loading;
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
    if (session === null || own === null) {
      // h2c turned on by a reload on a listener kept open: the first connection waits for the
      // import (node:http2 takes over what the socket has buffered, as after the preface sniff)
      void loadH2().then(() => this.accept(socket));
      return;
    }
    let c: { drain(): void };
    const o = this.options();
    try {
      c = o.implementation === 'fulcrum' ? new own.FrameConnection(this, socket, o) : new session.H2Connection(this, socket, o);
    } catch {
      socket.destroy(); // already bound or gone
      return;
    }
    this.conns.add(c);
    if (this.draining) c.drain();
  };

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
