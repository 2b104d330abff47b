/**
 * The uWS front as an engine (listen.engine "uws"): uWS App/SSLApp listeners (SNI with one router
 * per server name, the WebSocket route), and per request a UwsExchange (uws-exchange.ts) handed to
 * the worker's dispatcher. src/uws.ts is the only loader of uWS (it refuses the pure-JS fallback).
 */
import type { Config } from '../../config/schema.js';
import { checkCertPair } from '../../net/cert-pair.js';
import { loadUws, type HttpRequest, type HttpResponse, type ListenSocket, type SocketContext, type Uws, type WebSocketBehavior } from '../../uws.js';
import type { RequestHandler } from './exchange.js';
import { UwsExchange, uwsState } from './uws-exchange.js';

type TlsConfig = NonNullable<Config['tls']>;

/** UwsTlsListener is one HTTPS listener (replaced on every reload, so certificates are read again). */
export interface UwsTlsListener {
  /** close stops accepting at once */
  close(): void;
  /** retire keeps accepting what is queued in its backlog a moment, then closes */
  retire(): void;
}

/** a replaced HTTPS listener stays open this long, so that handshakes queued in its backlog are accepted, not reset */
const TLS_RETIRE_MS = 500;

/** The uWS engine of a worker: its listeners and its draining state. */
export class UwsEngine {
  private readonly uws: Uws;
  /** "package@version (binary)" */
  readonly build: string;
  private listenSocket: ListenSocket | null = null;
  private readonly tlsSockets = new Set<ListenSocket>();
  private readonly onPlain: (res: HttpResponse, req: HttpRequest) => void;
  private readonly onTls: (res: HttpResponse, req: HttpRequest) => void;

  /** throws when no native uWS build loads (src/uws.ts never falls back to pure JS) */
  constructor(onRequest: RequestHandler) {
    ({ uws: this.uws, build: this.build } = loadUws());
    const serve = (res: HttpResponse, req: HttpRequest, secure: boolean): void => {
      uwsState.inHandler = true;
      const ex = new UwsExchange(res, req, secure);
      try {
        onRequest(ex);
      } finally {
        uwsState.inHandler = false;
      }
      ex.leaveHandler();
    };
    this.onPlain = (res, req) => serve(res, req, false);
    this.onTls = (res, req) => serve(res, req, true);
  }

  /**
   * listen opens the plain-HTTP listener (SO_REUSEPORT, shared by the workers). `ws` is the
   * WebSocket front; its upgrade handler gets the exchange of the upgrade request.
   */
  listen<U>(host: string, port: number, ws: UwsWebSocketFront<U>, done: (ok: boolean) => void): void {
    const app = this.uws.App();
    app.ws<U>('/*', {
      ...ws.behavior,
      upgrade: (res: HttpResponse, req: HttpRequest, context: SocketContext) => {
        uwsState.inHandler = true;
        const ex = new UwsExchange(res, req, false);
        try {
          ws.upgrade(ex, context);
        } finally {
          uwsState.inHandler = false;
        }
        ex.leaveHandler();
      },
    });
    app.any('/*', this.onPlain);
    app.listen(host, port, (ls) => {
      this.listenSocket = ls || null;
      done(!!ls);
    });
  }

  /** openTls builds an SSLApp for `tls` and listens; returns the listener or why it failed. */
  openTls(host: string, tls: TlsConfig): UwsTlsListener | string {
    // checked again here: the files may have changed since the primary read the config
    for (const p of [tls, ...tls.sni]) {
      const bad = checkCertPair(p.cert, p.key, p.passphrase);
      if (bad) return `cannot start the TLS listener: ${bad}`;
    }
    let listen: ListenSocket | false = false;
    try {
      const app = this.uws.SSLApp({ cert_file_name: tls.cert, key_file_name: tls.key, ...(tls.passphrase ? { passphrase: tls.passphrase } : {}) });
      app.any('/*', this.onTls);
      // uWS keeps a router per server name: the handler is attached to each
      for (const s of tls.sni) {
        app.addServerName(s.hostname, { cert_file_name: s.cert, key_file_name: s.key, ...(s.passphrase ? { passphrase: s.passphrase } : {}) });
        app.domain(s.hostname).any('/*', this.onTls);
      }
      app.listen(host, tls.port, (ls) => {
        listen = ls;
      });
    } catch (err) {
      return `cannot start the TLS listener: ${(err as Error).message} (check tls.cert, tls.key, tls.passphrase)`;
    }
    const ls: ListenSocket | false = listen;
    if (!ls) return `cannot listen on ${host}:${tls.port} for TLS (address in use, not available here, not permitted, or an unreadable certificate/key)`;
    this.tlsSockets.add(ls);
    const close = (): void => {
      if (this.tlsSockets.delete(ls)) this.uws.us_listen_socket_close(ls);
    };
    return {
      close,
      retire: () => setTimeout(close, TLS_RETIRE_MS).unref(),
    };
  }

  /** drain stops accepting; responses from now on carry Connection: close. */
  drain(): void {
    uwsState.closing = true;
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const ls of this.tlsSockets) this.uws.us_listen_socket_close(ls);
    this.tlsSockets.clear();
  }
}

/** The uWS WebSocket front (ws/ws-proxy.ts): its behaviour, and what to do with an upgrade request. */
export interface UwsWebSocketFront<U> {
  behavior: Omit<WebSocketBehavior<U>, 'upgrade'>;
  upgrade(ex: UwsExchange, context: SocketContext): void;
}
