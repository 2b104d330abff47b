/**
 * A worker: one uWS accept loop on the shared port (SO_REUSEPORT), serving requests with the
 * config the primary sent. It never blocks on the primary; a reload swaps the routing tables for
 * new requests while in-flight ones finish on the old ones.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { decode, sendMsg, type ConfigMsg, type PrimaryToWorker } from '../ipc.js';
import type { LoadedConfig } from '../config/load.js';
import { CidrSet, formatAddress } from '../net/cidr.js';
import { log, setLogLevel, setLogRole } from '../log.js';
import { loadUws, type HttpRequest, type HttpResponse, type ListenSocket, type Uws } from '../uws.js';
import { ProxyRequest, setRequestProto, type Peer, type ProxyHost } from './proxy.js';
import { Router, normalizePath, type RouteTarget } from './router.js';
import { Upstream } from './upstream/upstream.js';
import { applyState, startReporting } from './report.js';
import { configureCache, handleCached, routePolicy, type RoutePolicy } from './cache/response-cache.js';
import { registerCacheState } from './cache/cache-state.js';
import { compressionPolicy, type CompressPolicy } from './compress/negotiate.js';
import { compressTapFor } from './compress/compress-tap.js';
import { configureCompression } from './compress/compressor.js';
import { registerCompressionState } from './compress/compression-state.js';
import { attachUpstreams, installSharedState } from './upstream/shared-state.js';
import { installSticky } from './sticky.js';
import { AccessList } from './guard/access-list.js';
import { respondEdge, respondTooMany } from './guard/edge-response.js';
import { ResponsePolicy, setResponsePolicy } from './guard/response-policy.js';
import { listenTls, redirectToHttps } from './tls-listener.js';
import { admitClient, registerClientLimiter, setClientLimiterWorkers } from './guard/client-limiter.js';
import { compileRateScope, registerRateLimiter, setWorkerCount, take, type RateScope } from './guard/rate-limiter.js';
import { startTimeoutSweep, type EdgeLimits } from './guard/limits.js';
import { counter, flushMetrics, gauge, startMetrics } from './metrics.js';
import { configureAccessLog, hookAccessLogSignals } from './access-log.js';
import { closeAllWebSockets, createWsBehavior, type WsGate } from './ws/ws-proxy.js';

interface Runtime {
  generation: number;
  cfg: LoadedConfig;
  router: Router;
  upstreams: Map<string, Upstream>;
  trusted: CidrSet;
  /** cache settings per route index, null where the route does not cache */
  cache: (RoutePolicy | null)[];
  /** compression settings per route index, null where the route does not compress */
  compress: (CompressPolicy | null)[];
  /** global allow/deny lists (null: everyone) */
  access: AccessList | null;
  /** per-route allow/deny lists, by route index */
  routeAccess: (AccessList | null)[];
  limits: EdgeLimits;
  /** rate limit per route index (the route's own, the global one, or null) */
  routeRate: (RateScope | null)[];
  responses: ResponsePolicy;
}

function buildRuntime(msg: ConfigMsg, prev: Runtime | null = null): Runtime {
  // validated and derived by the primary (ConfigMsg)
  const cfg: LoadedConfig = { file: 'config', raw: msg.config, workers: msg.workers, upstreams: msg.upstreams };
  const upstreams = new Map<string, Upstream>();
  for (const spec of Object.values(cfg.upstreams)) upstreams.set(spec.name, new Upstream(spec, cfg, prev?.upstreams.get(spec.name)));
  const targets: RouteTarget[] = cfg.raw.routes.map((r, index) => ({
    index,
    host: r.host,
    pathPrefix: r.pathPrefix,
    upstream: r.upstream,
    retryUnsafe: r.retryUnsafe === true,
  }));
  const cache = cfg.raw.routes.map((r) => routePolicy(cfg.raw, r));
  const compress = cfg.raw.routes.map((r) => compressionPolicy(cfg.raw, r));
  const { limits, timeouts } = cfg.raw;
  const globalRate = cfg.raw.rateLimit ? compileRateScope(cfg.raw.rateLimit, 'g:') : null;
  return {
    generation: msg.generation,
    cfg,
    router: new Router(targets),
    upstreams,
    trusted: CidrSet.fromStrings(cfg.raw.trustedProxies),
    access: AccessList.compile(cfg.raw.access),
    routeAccess: cfg.raw.routes.map((r) => AccessList.compile(r.access)),
    limits: { ...limits, bodyIdleMs: timeouts.bodyIdleMs, requestMs: timeouts.requestMs, hsts: cfg.raw.tls?.hsts ?? null },
    responses: new ResponsePolicy(cfg.raw.responses),
    cache,
    compress,
    routeRate: cfg.raw.routes.map((r, i) => (r.rateLimit === false ? null : r.rateLimit ? compileRateScope(r.rateLimit, `r${i}:`) : globalRate)),
  };
}

/** a draining worker exits after this long without a new request (and none in flight) */
const DRAIN_QUIET_MS = 150;

const unrouted = counter('fulcrum_unrouted_requests_total', 'Requests that matched no route (answered 404).').labels();

export function runWorker(): void {
  const index = Number(process.env.FULCRUM_WORKER_INDEX ?? cluster.worker?.id ?? 0);
  setLogRole(`worker-${index}`);

  let uws: Uws;
  let uwsBuild: string;
  try {
    ({ uws, build: uwsBuild } = loadUws());
  } catch (err) {
    sendMsg(process, { type: 'fatal', reason: (err as Error).message });
    log.error((err as Error).message);
    process.exit(1);
  }

  let rt: Runtime | null = null;
  /** a reloaded config's runtime, prepared and waiting for 'commit' or 'discard' (two-phase, below) */
  let pending: { generation: number; rt: Runtime; tls: ListenSocket | null } | null = null;
  let listenSocket: ListenSocket | null = null;
  /** the HTTPS listener (tls section), replaced on every reload so certificates are read again */
  let tlsSocket: ListenSocket | null = null;
  /** replaced HTTPS listeners still accepting what is queued for them */
  const retiring = new Set<ListenSocket>();
  const TLS_RETIRE_MS = 500;
  let inFlight = 0;
  let draining = false;
  const idPrefix = randomBytes(4).toString('hex');

  // The client address is looked up once per request; consecutive requests from the same
  // address (keep-alive, load tests) reuse the formatted string.
  const lastAddr = new Uint8Array(16);
  let lastLen = 0;
  let lastIp = '';
  let lastTrusted = false;
  let lastAllowed = true;
  let lastTrustedGen = -1;
  /** the current request's address, as uWS handed it out */
  let curAddr = lastAddr;

  /** requests started so far (the drain watches it to see the old connections go quiet) */
  let started = 0;
  const host: ProxyHost = {
    closing: false,
    requestId: (seq) => `${idPrefix}-${seq.toString(36)}`,
    requestStarted: () => {
      inFlight++;
      started++;
    },
    requestFinished: () => {
      inFlight--;
    },
    // the address was looked up by onRequest, just before (lookupPeer)
    peer(_res: HttpResponse, out: Peer) {
      out.ip = lastIp;
      out.trusted = lastTrusted;
    },
    get limits() {
      return rt!.limits;
    },
  };

  /** lookupPeer reads the client address and refreshes the per-address cache. */
  function lookupPeer(res: HttpResponse, r: Runtime): void {
    const b = new Uint8Array(res.getRemoteAddress());
    curAddr = b;
    let same = b.length === lastLen && lastTrustedGen === r.generation;
    for (let i = 0; same && i < b.length; i++) same = b[i] === lastAddr[i];
    if (!same) {
      lastAddr.set(b);
      lastLen = b.length;
      lastIp = formatAddress(b);
      lastTrusted = r.trusted.has(b);
      lastAllowed = r.access === null || r.access.allows(b);
      lastTrustedGen = r.generation;
    }
  }

  function deny(res: HttpResponse, list: AccessList): void {
    if (list.closeOnDeny) res.close();
    else respondEdge(res, 403, false);
  }

  const onRequest = (res: HttpResponse, req: HttpRequest): void => {
    const r = rt!;
    if (r.cfg.raw.tls?.redirectHttp) {
      lookupPeer(res, r);
      if (!lastAllowed) return deny(res, r.access!);
      return redirectToHttps(res, req, r.cfg.raw.tls);
    }
    handle(res, req, 'http');
  };
  const onTlsRequest = (res: HttpResponse, req: HttpRequest): void => handle(res, req, 'https');

  /**
   * admit runs the edge checks that requests and WebSocket upgrades share (access lists, URL
   * limits, routing, the route's access list and rate limit). It answers the client itself and
   * returns undefined when the request goes no further.
   */
  function admit(res: HttpResponse, req: HttpRequest, r: Runtime, url: string, target: string): RouteTarget | undefined {
    lookupPeer(res, r);
    if (!lastAllowed) return void deny(res, r.access!);
    if (target.length > r.limits.maxUrlBytes) return void respondEdge(res, 414, true);
    // a fragment is never sent by a client; DEL is the one control character uWS lets through
    if (target.indexOf('#') !== -1 || target.indexOf('\x7f') !== -1) return void respondEdge(res, 400, true);
    const route = r.router.match(req.getHeader('host'), normalizePath(url));
    if (route === undefined) {
      unrouted.inc();
      return void respondEdge(res, 404, false, undefined, '404 Not Found\nno route for this host and path\n');
    }
    const ra = r.routeAccess[route.index];
    if (ra != null && !ra.allows(curAddr)) return void deny(res, ra);
    const rs = r.routeRate[route.index];
    if (rs != null) {
      const wait = take(rs, rs.prefix + ((rs.header !== null && req.getHeader(rs.header)) || lastIp));
      if (wait > 0) return void respondTooMany(res, wait);
    }
    return route;
  }

  function handle(res: HttpResponse, req: HttpRequest, proto: 'http' | 'https'): void {
    const r = rt!;
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const query = req.getQuery();
    const target = query ? url + '?' + query : url;
    const route = admit(res, req, r, url, target);
    if (route === undefined) return;
    setRequestProto(proto);
    const cachePolicy = r.cache[route.index];
    const cp = r.compress[route.index];
    if (cachePolicy) return handleCached(res, req, method, target, route, r.upstreams.get(route.upstream)!, cachePolicy, host, cp);
    const pr = new ProxyRequest(res, host, route, r.upstreams.get(route.upstream)!);
    if (cp !== null) pr.tap = compressTapFor(req, method, cp, host);
    const maxConn = r.limits.maxConnectionsPerClient;
    if (maxConn > 0) {
      // over the limit: closed at once, as a connection refused (see guard/client-limiter.ts)
      if (!admitClient(lastIp, maxConn)) return void res.close();
      pr.clientKey = lastIp;
    }
    pr.start(req, method, target, proto);
  }

  /** wsGate admits a WebSocket upgrade as handle() admits a request (see ws/ws-proxy.ts). */
  const wsGate: WsGate = (res, req, url, target, out) => {
    const r = rt!;
    const route = admit(res, req, r, url, target);
    if (route === undefined) return false;
    out.route = route;
    out.upstream = r.upstreams.get(route.upstream)!;
    out.clientKey = null;
    const maxConn = r.limits.maxConnectionsPerClient;
    if (maxConn > 0) {
      if (!admitClient(lastIp, maxConn)) {
        res.close(); // over the limit: closed at once, as for requests
        return false;
      }
      out.clientKey = lastIp;
    }
    return true;
  };

  /**
   * openTlsFor opens the HTTPS listener of a runtime with the certificates as they are on disk
   * now: the listen socket, null when the config has no TLS, or why it cannot start.
   */
  function openTlsFor(r: Runtime): ListenSocket | null | string {
    const tls = r.cfg.raw.tls;
    return tls ? listenTls(uws, r.cfg.raw.listen.host, tls, onTlsRequest) : null;
  }

  /** swapTls makes `next` the HTTPS listener; the old one is retired. */
  function swapTls(next: ListenSocket | null): void {
    const old = tlsSocket;
    tlsSocket = next;
    if (old) retireTls(old);
  }

  /**
   * retireTls closes a replaced HTTPS listener a moment later. The new one is up (SO_REUSEPORT):
   * connections of the old one finish where they are, and the handshakes queued in its backlog
   * are accepted rather than reset when it closes.
   */
  function retireTls(ls: ListenSocket): void {
    retiring.add(ls);
    setTimeout(() => {
      if (retiring.delete(ls)) uws.us_listen_socket_close(ls);
    }, TLS_RETIRE_MS).unref();
  }

  function exitDrained(): void {
    log.info('drained, exiting');
    // the last metrics go to the primary first, so that counts stay exact across reloads
    flushMetrics(() => process.exit(0));
  }

  function shutdown(drainMs: number): void {
    if (draining) return;
    draining = true;
    if (listenSocket) {
      uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
    }
    if (tlsSocket) {
      uws.us_listen_socket_close(tlsSocket);
      tlsSocket = null;
    }
    if (pending?.tls) uws.us_listen_socket_close(pending.tls);
    pending = null;
    for (const ls of retiring) uws.us_listen_socket_close(ls);
    retiring.clear();
    if (inFlight === 0) return exitDrained();
    // (the upstream pools stay open: requests still arrive on open client connections)
    // Keep-alive clients still send on their open connections: answer them with
    // "Connection: close" (host.closing) so that they reconnect, to the workers that still
    // listen, and exit once no request has come for DRAIN_QUIET_MS and none is in flight.
    // A connection that stays idle through all of it is closed on exit, as nginx does.
    host.closing = true;
    let seen = started;
    const quiet = setInterval(() => {
      if (inFlight === 0 && started === seen) exitDrained();
      seen = started;
    }, DRAIN_QUIET_MS);
    quiet.unref();
    log.info('draining', { inFlight, drainMs });
    setTimeout(() => {
      // open WebSockets get 1001 Going Away; the worker exits when they are closed (or soon after)
      const sockets = closeAllWebSockets();
      log.warn('drain timeout reached, exiting with requests in flight', { inFlight, websockets: sockets });
      if (sockets === 0 || inFlight === 0) process.exit(0);
      setTimeout(() => process.exit(0), 1000);
    }, drainMs).unref();
  }

  function start(msg: ConfigMsg): void {
    try {
      rt = buildRuntime(msg);
    } catch (err) {
      sendMsg(process, { type: 'fatal', reason: (err as Error).message });
      process.exit(1);
    }
    installSharedState();
    installSticky();
    registerRateLimiter();
    registerClientLimiter();
    applyRuntime(rt);
    hookAccessLogSignals();
    const app = uws.App();
    app.ws(
      '/*',
      createWsBehavior(host, wsGate, () => rt!, rt.cfg.raw.websocket),
    );
    app.any('/*', onRequest);
    const { host: lhost, port } = rt.cfg.raw.listen;
    app.listen(lhost, port, (ls) => {
      if (!ls) {
        const reason = `cannot listen on ${lhost}:${port} (address in use, not available here, or not permitted)`;
        sendMsg(process, { type: 'fatal', reason });
        log.error(reason);
        process.exit(1);
      }
      listenSocket = ls;
      const tls = openTlsFor(rt!);
      if (typeof tls === 'string') {
        sendMsg(process, { type: 'fatal', reason: tls });
        log.error(tls);
        process.exit(1);
      }
      tlsSocket = tls;
      startMetrics();
      gauge('fulcrum_worker_resident_memory_bytes', 'Resident memory (RSS) of each worker process, in bytes.', ['worker'], (emit) =>
        emit([String(index)], process.memoryUsage.rss()),
      );
      gauge('fulcrum_upstream_in_flight', 'Requests in flight to each upstream server.', ['upstream', 'server'], (emit) => {
        for (const u of rt!.upstreams.values()) for (const s of u.servers) emit([u.name, s.id], s.inFlight);
      });
      gauge('fulcrum_requests_in_flight', 'Client requests being proxied.', [], (emit) => emit([], inFlight));
      startReporting();
      startTimeoutSweep(() => rt!.limits);
      sendMsg(process, { type: 'ready', generation: msg.generation, pid: process.pid, uwsBuild });
    });
  }

  /** applyRuntime points the module-level settings at a runtime (at start, and on commit). */
  function applyRuntime(r: Runtime): void {
    attachUpstreams(r.upstreams);
    setLogLevel(r.cfg.raw.logging.level);
    setResponsePolicy(r.responses);
    setWorkerCount(r.cfg.workers);
    setClientLimiterWorkers(r.cfg.workers);
    configureCache(r.cfg.raw.cache);
    configureCompression(r.cfg.raw.compression, r.cfg.workers);
    configureAccessLog(r.cfg.raw.logging, host.requestId);
  }

  // two-phase: worker side (interim, replaced by the runtime rewrite)
  // A reloaded config is only prepared (ConfigMsg in ipc.ts): its runtime is built and its HTTPS
  // listener opened (certificates loaded, port bound) while the running one serves; 'commit'
  // swaps it in, 'discard' drops it and closes what it opened. Nothing module-level changes
  // before the commit (applyRuntime).
  /**
   * FULCRUM_TEST_CRASH_IN_PREPARE=<worker index>: a fault hook for tests only (test/reload-refused.test.ts),
   * read once: that worker exits while it builds a reloaded config's runtime. Inert unless set.
   */
  const crashInPrepare = process.env.FULCRUM_TEST_CRASH_IN_PREPARE === String(index);

  function prepare(msg: ConfigMsg): void {
    if (pending !== null) dropPending();
    const refuse = (reason: string) => {
      log.error('reload refused by worker; the running config stays', { generation: msg.generation, reason });
      sendMsg(process, { type: 'config-failed', generation: msg.generation, reason });
    };
    let next: Runtime;
    try {
      if (crashInPrepare) {
        log.error('FULCRUM_TEST_CRASH_IN_PREPARE: exiting while preparing a reload (test fault)');
        process.exit(70);
      }
      next = buildRuntime(msg, rt);
    } catch (err) {
      return refuse(`cannot build the new config: ${(err as Error).message}`);
    }
    const tls = openTlsFor(next);
    if (typeof tls === 'string') {
      closeNewPools(next);
      return refuse(tls);
    }
    pending = { generation: msg.generation, rt: next, tls };
    sendMsg(process, { type: 'prepared', generation: msg.generation, pid: process.pid });
  }

  function commit(generation: number): void {
    const p = pending;
    if (p === null || p.generation !== generation) return;
    pending = null;
    const old = rt;
    rt = p.rt;
    applyRuntime(p.rt);
    swapTls(p.tls);
    // idle connections of the old pools close now; busy ones finish their requests first
    for (const u of old?.upstreams.values() ?? []) u.close(p.rt.upstreams.get(u.name));
    sendMsg(process, { type: 'ready', generation, pid: process.pid, uwsBuild });
  }

  function discard(generation: number): void {
    if (pending !== null && pending.generation === generation) dropPending();
  }

  function dropPending(): void {
    const p = pending!;
    pending = null;
    if (p.tls) retireTls(p.tls);
    closeNewPools(p.rt);
  }

  /** closeNewPools closes the connection pools a prepared runtime made (the running ones stay). */
  function closeNewPools(r: Runtime): void {
    for (const u of r.upstreams.values()) u.close(rt?.upstreams.get(u.name));
  }
  // end of two-phase: worker side (interim)

  process.on('message', (raw: unknown) => {
    const msg = decode(raw) as PrimaryToWorker | undefined;
    if (!msg) return;
    switch (msg.type) {
      case 'config':
        if (rt === null) start(msg);
        else prepare(msg);
        break;
      case 'commit':
        commit(msg.generation);
        break;
      case 'discard':
        discard(msg.generation);
        break;
      case 'shutdown':
        shutdown(msg.drainMs);
        break;
      case 'state':
        applyState(msg.state);
        break;
    }
  });
  registerCacheState();
  registerCompressionState();
  sendMsg(process, { type: 'hello', pid: process.pid });
  // the primary is gone: nobody supervises us any more
  process.on('disconnect', () => process.exit(0));
  // SIGINT/SIGTERM from a terminal reach the whole process group; the primary coordinates
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => shutdown(rt?.cfg.raw.timeouts.drainMs ?? 0));
  process.on('SIGHUP', () => {});
}
