/**
 * fulcrum's own engine as a worker sees it (listen.engine "fulcrum", the default): the plain
 * listener and the TLS one (listener.ts), the engine options of each config generation
 * (engine-options.ts), and draining. The counterpart of uws-engine.ts for the opt-in uWS front.
 *
 * TLS across reloads: one TLS listener per port, kept open while generations come and go. A
 * generation brings its secure contexts (the certificates read again from their files, as nginx
 * does on reload) and they take effect when the primary commits it (activate); a discarded one
 * changes nothing. A port no generation uses any more closes after a moment (handshakes queued in
 * its backlog are still accepted), as the uWS engine retires its replaced listeners.
 *
 * HTTP/2 (src/worker/h2/): the engine owns one HTTP/2 front for all its listeners. TLS listeners
 * hand it the sockets that negotiated "h2" (offered as tls.http2 and tls.alpn say), the plain
 * listener those that start with the h2c preface (listen.h2c); its options are built with the
 * engine's, per committed generation, and read by each new HTTP/2 connection. prepare() loads the
 * implementation a generation serves HTTP/2 with (http2.implementation) before it takes
 * connections: the worker waits for it at start and before it reports a reload prepared.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Config } from '../config/schema.js';
import { checkCertPair } from '../net/cert-pair.js';
import { ENGINE_DEFAULTS, engineOptions, type EngineOptions } from './engine/engine-options.js';
import { createH2Handler, type H2Front, loadH2 } from './h2/h2-front.js';
import { H2_DEFAULTS, h2Options, type H2Options } from './h2/h2-options.js';
import type { RequestHandler } from './engine/exchange.js';
import { Listener, type TlsContexts } from './engine/listener.js';

type TlsConfig = NonNullable<Config['tls']>;

/** one generation's hold on the TLS listener (runtime.ts GenerationListener) */
export interface TlsGeneration {
  /** resolves with null once the listener listens, or with why it cannot */
  readonly opened: Promise<string | null>;
  /** the generation was committed: its certificates serve new handshakes */
  activate(): void;
  /** a discarded generation lets go (the listener closes if no other generation holds it) */
  close(): void;
  /** a replaced generation lets go (closing, if at all, after queued handshakes were accepted) */
  retire(): void;
}

/** a port no generation holds any more stays open this long, for handshakes queued in its backlog */
const TLS_RETIRE_MS = 500;

interface HeldListener {
  readonly listener: Listener;
  readonly opened: Promise<string | null>;
  holders: number;
}

export class FulcrumEngine {
  readonly build = `fulcrum http/1.1 h2 (node ${process.version})`;
  private plain: Listener | null = null;
  private readonly tlsByPort = new Map<number, HeldListener>();
  /** replaced by configure() before the first request */
  private options: EngineOptions = ENGINE_DEFAULTS;
  private h2Options: H2Options = H2_DEFAULTS;
  private readonly h2: H2Front;
  private draining = false;

  constructor(private readonly handler: RequestHandler) {
    this.h2 = createH2Handler(handler, () => this.h2Options);
  }

  /** configure applies a committed generation's settings to every listener (from the next request on). */
  configure(config: Config, errorPage: EngineOptions['errorPage']): void {
    this.options = engineOptions(config, errorPage);
    this.h2Options = h2Options(config, this.options);
    this.plain?.configure(this.options);
    for (const h of this.tlsByPort.values()) h.listener.configure(this.options);
  }

  /** prepare loads the HTTP/2 implementation `config` serves with, when it offers HTTP/2 (tls.http2 or listen.h2c). */
  prepare(config: Config): Promise<void> {
    return config.tls?.http2 || config.listen.h2c ? loadH2(config.http2.implementation) : Promise.resolve();
  }

  /** listen opens the plain-HTTP listener (shared by the workers under node:cluster). */
  listen(host: string, port: number, done: (error: string | null) => void): void {
    const l = new Listener({ host, port, handler: this.handler, options: this.options, otherProtocol: this.h2.accept });
    l.listen().then(
      () => {
        this.plain = l;
        done(null);
      },
      (err: NodeJS.ErrnoException) =>
        done(`cannot listen on ${host}:${port}: ${err.code ?? err.message} (address in use, not available here, or not permitted)`),
    );
  }

  /** openTls reads a generation's certificates and holds the TLS listener of its port (opening it if needed); a string says why it cannot. */
  openTls(host: string, cfg: TlsConfig): TlsGeneration | string {
    let contexts: TlsContexts;
    try {
      contexts = secureContexts(cfg);
    } catch (err) {
      return `cannot start the TLS listener: ${(err as Error).message} (check tls.cert, tls.key, tls.passphrase)`;
    }
    let held = this.tlsByPort.get(cfg.port);
    if (held === undefined) {
      const listener = new Listener({
        host,
        port: cfg.port,
        handler: this.handler,
        options: this.options,
        tls: contexts,
        otherProtocol: this.h2.accept,
      });
      const opened = listener.listen().then(
        () => null,
        (err: NodeJS.ErrnoException) => {
          this.tlsByPort.delete(cfg.port);
          return `cannot listen on ${host}:${cfg.port} for TLS: ${err.code ?? err.message} (address in use, not available here, or not permitted)`;
        },
      );
      held = { listener, opened, holders: 0 };
      this.tlsByPort.set(cfg.port, held);
    }
    const h = held;
    h.holders++;
    let released = false;
    const release = (delayMs: number): void => {
      if (released) return;
      released = true;
      if (--h.holders > 0) return;
      const closeNow = (): void => {
        if (h.holders > 0) return;
        if (this.tlsByPort.get(cfg.port) === h) this.tlsByPort.delete(cfg.port);
        void h.listener.close();
        h.listener.drain();
      };
      if (delayMs === 0) closeNow();
      else setTimeout(closeNow, delayMs).unref();
    };
    return {
      opened: h.opened,
      activate: () => h.listener.setContexts(contexts),
      close: () => release(0),
      retire: () => release(TLS_RETIRE_MS),
    };
  }

  /** drain stops accepting; every connection closes after its current response, idle ones at once. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const l of this.listeners()) {
      void l.close();
      l.drain();
    }
    this.h2.drain();
  }

  /** open client connections (HTTP/1.x), for the drain */
  get connections(): number {
    let n = 0;
    for (const l of this.listeners()) n += l.connections;
    return n + this.h2.connections;
  }

  private *listeners(): Iterable<Listener> {
    if (this.plain !== null) yield this.plain;
    for (const h of this.tlsByPort.values()) yield h.listener;
  }
}

/** secureContexts reads the certificates of a tls section (default and SNI); throws with the operator's reason. */
function secureContexts(cfg: TlsConfig): TlsContexts {
  const context = (cert: string, key: string, passphrase: string | null): tls.SecureContext => {
    // checked again here: the files may have changed since the primary read the config
    const bad = checkCertPair(cert, key, passphrase);
    if (bad) throw new Error(bad);
    return tls.createSecureContext({
      cert: readFileSync(cert),
      key: readFileSync(key),
      ...(passphrase ? { passphrase } : {}),
      minVersion: cfg.minVersion,
    });
  };
  const byName = new Map<string, tls.SecureContext>();
  for (const s of cfg.sni) byName.set(s.hostname.toLowerCase(), context(s.cert, s.key, s.passphrase));
  return { default: context(cfg.cert, cfg.key, cfg.passphrase), byName };
}
