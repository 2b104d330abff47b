/**
 * The worker's client engine, chosen by listen.engine when the worker starts (a reload cannot
 * change it: the primary refuses that, as it refuses a new listen.port): fulcrum's own HTTP/1.1
 * engine (fulcrum-engine.ts, the default; HTTP/2 too) or the uWS front (engine/uws-engine.ts). Both
 * hand every request to the same dispatcher (dispatch.ts) through the ClientExchange seam; this
 * file adapts their listeners, TLS and draining to one shape for worker.ts.
 *
 * WebSockets: on fulcrum's engine an upgrade is an ordinary exchange that the dispatcher turns
 * into a byte tunnel (proxy/tunnel.ts) after the server's 101; on uWS, the ws route of the uWS
 * App (ws/ws-front.ts) relays messages.
 */
import type { Config } from '../config/schema.js';
import { admitUpgrade, dispatch } from './dispatch.js';
import { FulcrumEngine } from './fulcrum-engine.js';
import { UwsEngine } from './engine/uws-engine.js';
import { runtime, type ListenerOpener, type Runtime } from './runtime.js';
import { createWsFront } from './ws/ws-front.js';

export interface WorkerEngine {
  /** "fulcrum" or "uws", as listen.engine says */
  readonly name: Config['listen']['engine'];
  /** what /status, the banner and fulcrum_build_info show */
  readonly build: string;
  /** listen opens the plain-HTTP listener; done(null) once it listens, or with why it cannot */
  listen(rt: Runtime, done: (error: string | null) => void): void;
  readonly openTls: ListenerOpener;
  /** prepare loads what a generation needs before it takes connections (the HTTP/2 implementation it serves with) */
  prepare(rt: Runtime): Promise<void>;
  /** configure applies a committed generation to the engine (timeouts, limits, error pages) */
  configure(rt: Runtime): void;
  /** drain stops accepting; responses from now on close their connections */
  drain(): void;
}

/** createEngine builds the engine listen.engine names; throws with the operator's reason (no uWS build loads). */
export function createEngine(config: Config): WorkerEngine {
  if (config.listen.engine === 'uws') return uwsEngine();
  const e = new FulcrumEngine(dispatch);
  return {
    name: 'fulcrum',
    build: e.build,
    listen: (rt, done) => {
      e.configure(rt.cfg.raw, errorPages(rt));
      e.listen(rt.cfg.raw.listen.host, rt.cfg.raw.listen.port, done);
    },
    openTls: (host, tls) => e.openTls(host, tls),
    prepare: (rt) => e.prepare(rt.cfg.raw),
    configure: (rt) => e.configure(rt.cfg.raw, errorPages(rt)),
    drain: () => e.drain(),
  };
}

function uwsEngine(): WorkerEngine {
  const e = new UwsEngine(dispatch);
  return {
    name: 'uws',
    build: e.build,
    listen: (rt, done) => {
      const { host, port } = rt.cfg.raw.listen;
      e.listen(
        host,
        port,
        createWsFront(admitUpgrade, () => runtime()!, rt.cfg.raw.websocket),
        (ok) => done(ok ? null : `cannot listen on ${host}:${port} (address in use, not available here, or not permitted)`),
      );
    },
    openTls: (host, tls) => e.openTls(host, tls),
    prepare: () => Promise.resolve(), // no HTTP/2 on uWS
    // uWS reads nothing per generation: its timeouts are fixed (the config's checks say so)
    configure: () => {},
    drain: () => e.drain(),
  };
}

/** the configured error pages, for the answers the engine writes itself (400, 408, 413, 414, 431...) */
function errorPages(rt: Runtime): ((status: number) => { type: string; body: string } | undefined) | null {
  const policy = rt.responses;
  return (status) => {
    const page = policy.page(status);
    return page === undefined ? undefined : { type: 'text/html; charset=utf-8', body: page };
  };
}
