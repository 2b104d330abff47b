/**
 * Listener: fulcrum's HTTP/1.1 engine listening on one address, plain (node:net) or TLS
 * (node:tls over node:net sockets). Each accepted socket becomes an Http1Connection.
 *
 * TLS: the caller builds the secure contexts (so the worker can rebuild them from the files on
 * reload and swap them with setContexts, without closing anything); SNI picks the context by the
 * exact server name, then by a "*.example.com" wildcard (one label, as uWS and nginx match),
 * then the default. ALPN offers options.alpn in its order ("h2" only when an `otherProtocol` hook
 * is given, else http/1.1 alone): sockets that negotiated anything but http/1.1 go to that hook
 * (HTTP/2, src/worker/h2/). A handshake must complete within timeouts.headerMs (counted as kind
 * "handshake").
 *
 * h2c (options.h2c, plain listener with the hook): each connection's first bytes are compared
 * with the HTTP/2 connection preface (RFC 9113 3.4, preface-sniff.ts); a match goes to the
 * hook, anything else to the HTTP/1.1 engine. Without h2c nothing is sniffed.
 *
 * Under node:cluster every worker listens on the same address (exclusive: false): the primary
 * distributes connections, or with SCHED_NONE the workers accept from the shared socket.
 */
import net from 'node:net';
import tls from 'node:tls';
import { AcceptCopies } from './accept-copies.js';
import type { EngineOptions } from './engine-options.js';
import type { RequestHandler } from './exchange.js';
import { sniffPreface } from './preface-sniff.js';
import { sharedReadOption } from './client-socket.js';
import { type ConnectionHost, Http1Connection } from './connection.js';
import { countTimeout, now, type Timed, track, untrack, Wait } from './timeouts.js';

/** the buffer plain-TCP client reads land in (one per worker, see readIntoSharedBuffer) */
let clientReadBuffer: Buffer | null = null;
const READ_BUFFER_BYTES = 64 * 1024;

const HTTP1_ONLY = ['http/1.1'];

/** What node hands a listening socket's handle (private: used only where present, see readIntoSharedBuffer). */
interface ListenHandle {
  onconnection?: (err: number, handle: unknown) => void;
}

export interface TlsContexts {
  /** for clients without SNI, and names with no context of their own */
  readonly default: tls.SecureContext;
  /** by lowercase server name: "a.example" or "*.example" */
  readonly byName: ReadonlyMap<string, tls.SecureContext>;
}

/**
 * The accept queue asked of the kernel (capped by net.core.somaxconn, 4096 on current Linux), as
 * Go's servers (Caddy) ask for somaxconn. Node's default, 511, overflowed when 1,000 clients
 * connected at once (native-bench get-100b-1000c: 1,043 listen overflows and 459 SYN
 * retransmits in one 3 s run, each a client waiting 1-3 s, p99 2.1 s; 0 with this, as the uWS
 * engine).
 */
const LISTEN_BACKLOG = 4096;

export interface ListenerSpec {
  host: string;
  port: number;
  handler: RequestHandler;
  options: EngineOptions;
  /** TLS contexts; null: plain HTTP */
  tls?: TlsContexts | null;
  /**
   * receives TLS sockets whose ALPN protocol is not http/1.1 (h2 is offered only with it), and
   * with options.h2c plain sockets that start with the HTTP/2 preface (the preface left unread)
   */
  otherProtocol?: ((socket: net.Socket) => void) | null;
}

export class Listener implements ConnectionHost {
  options: EngineOptions;
  readonly handler: RequestHandler;
  private readonly server: net.Server;
  private readonly conns = new Set<Http1Connection>();
  private contexts: TlsContexts | null;
  private draining = false;
  /** the listening socket's other descriptors, for accepting in bursts (accept-copies.ts) */
  private copies: AcceptCopies | null = null;
  /** plain TCP: the read option into the worker's shared buffer (readIntoSharedBuffer); null: node's own reads */
  private onread: ReturnType<typeof sharedReadOption> | null = null;
  /**
   * onHandle takes a handle accepted on any descriptor of the listening socket (the listening
   * handle's own onconnection on plain TCP, the copies' always): node's socket, with the shared
   * read buffer where there is one.
   */
  private readonly onHandle = (err: number, handle: unknown): void => {
    if (err) return; // accept failed (EMFILE...): node's own handler only emits 'error'
    this.copies?.accepted();
    (handle as { setNoDelay?(on: boolean): void }).setNoDelay?.(true);
    if (this.onread === null || (this.options.h2c && this.spec.otherProtocol)) {
      // TLS, or h2c sniffed first: node's own reads (node:http2 takes the handle over when it is h2c)
      this.accept(new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true } as net.SocketConstructorOpts));
      return;
    }
    const s = new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true, onread: this.onread } as net.SocketConstructorOpts);
    if (s.remoteAddress === undefined) {
      s.destroy();
      return;
    }
    this.adopt(s, false, true);
  };
  private readonly adoptPlain = (s: net.Socket): void => void this.adopt(s, false, false);

  constructor(private readonly spec: ListenerSpec) {
    this.options = spec.options;
    this.handler = spec.handler;
    this.contexts = spec.tls ?? null;
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => {
      this.copies?.accepted();
      this.accept(s);
    });
  }

  /** listen resolves once the socket listens (or rejects with the listen error). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.spec.host, port: this.spec.port, exclusive: false, backlog: LISTEN_BACKLOG }, () => {
        this.server.removeListener('error', onError);
        if (this.contexts === null) this.readIntoSharedBuffer();
        this.copies = new AcceptCopies(this.server, this.onHandle, LISTEN_BACKLOG);
        resolve();
      });
    });
  }

  /** the port listened on (for port 0) */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get connections(): number {
    return this.conns.size;
  }

  /** configure applies a new config generation's options from the next request on. */
  configure(options: EngineOptions): void {
    this.options = options;
    for (const c of this.conns) c.parser.limits = options.limits;
  }

  /** setContexts swaps the TLS contexts for new handshakes. */
  setContexts(contexts: TlsContexts): void {
    this.contexts = contexts;
  }

  /** drain closes every connection after its current response (idle ones at once), and those accepted later after their first. */
  drain(): void {
    this.draining = true;
    for (const c of this.conns) c.drain();
  }

  /** close stops accepting; live connections are left to drain(). */
  close(): Promise<void> {
    this.copies?.close();
    this.copies = null;
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  /**
   * readIntoSharedBuffer makes plain-TCP connections read into one buffer per worker (`onread`,
   * as the upstream connections do) instead of a fresh 64 KiB allocation per read. Measured
   * in-process on this machine with 64 keep-alive clients (CPU per request of client and
   * server, medians of 3 alternating runs): POST 16 KiB 37.5 -> 33 us and 1.3-1.8x the requests
   * per second (node's per-read allocation is malloc'd, shrunk and freed: page faults); GET 100 B
   * 31.3 -> 30.9 us (no difference). node:net offers `onread` only to sockets it creates, so the
   * accepted handle is taken from the listening handle's onconnection (a private hook, stable
   * since node 0.x); without it, connections come through the 'connection' event and node's
   * own reads. The consequence is exchange.ts's rule: body pieces are valid only during the call.
   */
  private readIntoSharedBuffer(): void {
    const h = (this.server as unknown as { _handle?: ListenHandle })._handle;
    if (typeof h?.onconnection !== 'function') return;
    clientReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.onread = sharedReadOption(clientReadBuffer);
    h.onconnection = this.onHandle;
  }

  forget(c: Http1Connection): void {
    this.conns.delete(c);
  }

  private accept(s: net.Socket): void {
    if (s.remoteAddress === undefined) {
      s.destroy(); // already gone
      return;
    }
    if (this.contexts === null) {
      const other = this.spec.otherProtocol;
      if (this.options.h2c && other) sniffPreface(s, this.options.headerMs, other, this.adoptPlain);
      else this.adopt(s, false, false);
      return;
    }
    const alpn = this.spec.otherProtocol ? this.options.alpn : HTTP1_ONLY;
    const ts = new tls.TLSSocket(s, { isServer: true, secureContext: this.contexts.default, ALPNProtocols: alpn as string[], SNICallback: this.sni });
    const hs = new Handshake(ts, now() + this.options.headerMs);
    ts.once('secure', () => {
      hs.done();
      if (ts.destroyed) return;
      const p = ts.alpnProtocol;
      if (p && p !== 'http/1.1' && this.spec.otherProtocol) this.spec.otherProtocol(ts);
      else this.adopt(ts, true, false);
    });
  }

  /** adopt makes an HTTP/1.x connection of a socket; sharedReads: made with sharedReadOption */
  private adopt(s: net.Socket, secure: boolean, sharedReads: boolean): void {
    const c = new Http1Connection(this, s, secure, sharedReads);
    this.conns.add(c);
    if (this.draining) c.drain();
  }

  private readonly sni = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    const c = this.contexts!;
    const name = servername.toLowerCase();
    let ctx = c.byName.get(name);
    if (ctx === undefined) {
      const dot = name.indexOf('.');
      if (dot > 0) ctx = c.byName.get('*' + name.slice(dot));
    }
    cb(null, ctx ?? c.default);
  };
}

/** Handshake times one TLS handshake in the engine's sweep (and swallows handshake errors: the socket is destroyed). */
class Handshake implements Timed {
  wait = Wait.Handshake;
  slot = -1;
  private readonly onEnd = () => this.done();

  constructor(
    private readonly socket: tls.TLSSocket,
    public deadline: number,
  ) {
    socket.on('error', this.onEnd);
    socket.on('close', this.onEnd);
    track(this);
  }

  /** done: the handshake completed or the socket is gone. */
  done(): void {
    this.wait = Wait.None;
    untrack(this);
    this.socket.removeListener('error', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
  }

  expire(): void {
    this.done();
    countTimeout(Wait.Handshake);
    this.socket.destroy();
  }
}
