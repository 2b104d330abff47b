/**
 * The per-request dispatch of a worker, for any engine: the edge checks (access lists, URL limits,
 * the HTTPS redirect, routing, the route's access list and rate limit, the per-client limit), then
 * the hand-off to the response cache or the proxy. Runs with the running generation (runtime.ts);
 * a request keeps the generation it started with.
 *
 * Rejections are cheap and never reach a server (nginx's 403/404/414/429 from its own limits); a
 * denied client with denyAction "close", and a client over maxConnectionsPerClient, gets its
 * connection closed without a response.
 */
import type { Config } from '../config/schema.js';
import { handleCached } from './cache/response-cache.js';
import { compressTapFor } from './compress/compress-tap.js';
import { setEngineAnswerHook } from './engine/engine-answers.js';
import type { ClientExchange, ClientPeer } from './engine/exchange.js';
import type { AccessList } from './guard/access-list.js';
import { admitClient } from './guard/client-limiter.js';
import { closeEdge, respondEdge, respondLogged } from './guard/edge-response.js';
import { targetRefusal } from './guard/limits.js';
import { rateKey, take } from './guard/rate-limiter.js';
import { counter } from './obs/metrics.js';
import { observeEngineAnswer } from './observe.js';
import { validHost } from './proxy/head.js';
import { ProxyRequest } from './proxy/proxy-request.js';
import { isWebSocketUpgrade, Tunnel } from './proxy/tunnel.js';
import { routePath, type RouteTarget } from './router.js';
import { runtime, type RouteRuntime, type Runtime } from './runtime.js';

// The answers the engine writes itself to requests it cannot parse (engine-answers.ts) never reach
// dispatch; they get their access log line from the running generation's log all the same.
setEngineAnswerHook((kind, status, seq, c, bytes) => {
  const log = runtime()?.accessLog;
  if (log != null) observeEngineAnswer(kind, status, seq, c, bytes, log);
});

const unrouted = counter('fulcrum_unrouted_requests_total', 'Requests that matched no route (answered 404).').labels();

/** checkPeer refreshes the per-connection memo of the client address for this generation. */
function checkPeer(peer: ClientPeer, r: Runtime): void {
  if (peer.gen === r.generation) return;
  peer.gen = r.generation;
  peer.trusted = r.trusted.has(peer.bytes);
  peer.allowed = r.access === null || r.access.allows(peer.bytes);
}

function deny(ex: ClientExchange, list: AccessList, r: Runtime, route: RouteTarget | null = null): void {
  if (list.closeOnDeny) closeEdge(ex, 'access-denied', r, route);
  else respondEdge(ex, 'access-denied', r, route);
}

/**
 * admit runs the edge checks that requests and WebSocket upgrades share (access lists, URL
 * limits, routing, the route's access list and rate limit). It answers the client itself and
 * returns undefined when the request goes no further.
 */
function admit(ex: ClientExchange, r: Runtime): RouteRuntime | undefined {
  const peer = ex.peer;
  checkPeer(peer, r);
  if (!peer.allowed) return void deny(ex, r.access!, r);
  const target = ex.target;
  const refused = targetRefusal(target, r.limits.maxUrlBytes);
  if (refused !== null) return void respondEdge(ex, refused, r);
  const route = r.router.match(ex.field('host'), routePath(target));
  if (route === undefined) {
    unrouted.inc();
    return void respondEdge(ex, 'no-route', r, null, '404 Not Found\nno route for this host and path\n');
  }
  const rr = r.routes[route.index]!;
  if (rr.access !== null && !rr.access.allows(peer.bytes)) return void deny(ex, rr.access, r, rr.target);
  const rs = rr.rate;
  if (rs !== null) {
    const wait = take(rs, rateKey(rs, ex));
    if (wait > 0) return void respondEdge(ex, 'rate-limited', r, rr.target, null, wait);
  }
  return rr;
}

/** admitConnection counts the request's connection against maxConnectionsPerClient (true: no limit); false: the connection was closed. */
function admitConnection(ex: ClientExchange, r: Runtime, route: RouteTarget): boolean | ClientPeer {
  const maxConn = r.limits.maxConnectionsPerClient;
  if (maxConn <= 0) return true;
  // over the limit: closed at once, as a connection refused (see guard/client-limiter.ts), logged as nginx's 444
  if (!admitClient(ex.peer, maxConn, r.workers)) {
    closeEdge(ex, 'too-many-connections', r, route);
    return false;
  }
  return ex.peer;
}

/** dispatch serves one request an engine parsed (the engines' RequestHandler). */
export function dispatch(ex: ClientExchange): void {
  const r = runtime()!;
  const tls = r.cfg.raw.tls;
  if (tls?.redirectHttp && !ex.secure) {
    checkPeer(ex.peer, r);
    if (!ex.peer.allowed) return deny(ex, r.access!, r);
    return redirectToHttps(ex, tls, r);
  }
  const rr = admit(ex, r);
  if (rr === undefined) return;
  // a WebSocket upgrade on an engine that can hand its connection over: a tunnel after the 101
  // (other upgrades, e.g. h2c, go on as plain requests, Upgrade removed as hop-by-hop)
  if (ex.tunnel && isWebSocketUpgrade(ex)) return startTunnel(ex, r, rr);
  if (rr.cache !== null) return handleCached(ex, rr.target, rr.upstream, rr.cache, r, rr.compress);
  const pr = new ProxyRequest(ex, r, rr.target, rr.upstream);
  if (rr.compress !== null) pr.tap = compressTapFor(ex, rr.compress, r);
  const key = admitConnection(ex, r, rr.target);
  if (key === false) return;
  if (key !== true) pr.clientKey = key;
  pr.start();
}

/** startTunnel proxies a WebSocket upgrade as a byte tunnel (proxy/tunnel.ts), counted against the per-client limit. */
function startTunnel(ex: ClientExchange, r: Runtime, rr: RouteRuntime): void {
  const key = admitConnection(ex, r, rr.target);
  if (key === false) return;
  const t = new Tunnel(ex, r, rr.target, rr.upstream);
  if (key !== true) t.clientKey = key;
  t.start();
}

/** What the edge checks decided for a WebSocket upgrade (ws/ws-front.ts). */
export interface UpgradeAdmission {
  route: RouteRuntime['target'];
  upstream: RouteRuntime['upstream'];
  /** the client counted by the per-client limit (released when the relay ends), or null */
  clientKey: ClientPeer | null;
}

/** admitUpgrade runs the edge checks for a WebSocket upgrade, as dispatch does for a request; false when it answered the client. */
export function admitUpgrade(ex: ClientExchange, out: UpgradeAdmission): boolean {
  const r = runtime()!;
  const rr = admit(ex, r);
  if (rr === undefined) return false;
  out.route = rr.target;
  out.upstream = rr.upstream;
  const key = admitConnection(ex, r, rr.target);
  if (key === false) return false;
  out.clientKey = key === true ? null : key;
  return true;
}

const REDIRECT_REASONS: Record<number, string> = { 301: 'Moved Permanently', 302: 'Found', 307: 'Temporary Redirect', 308: 'Permanent Redirect' };

/** redirectToHttps answers a plain-HTTP request with tls.redirectStatus to the same URL over HTTPS. */
function redirectToHttps(ex: ClientExchange, tls: NonNullable<Config['tls']>, r: Runtime): void {
  const h = ex.field('host');
  if (!validHost(h)) return respondEdge(ex, 'malformed-request', r);
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0]!;
  const location = `https://${name}${tls.port === 443 ? '' : ':' + tls.port}${ex.target}`;
  const line = `${tls.redirectStatus} ${REDIRECT_REASONS[tls.redirectStatus] ?? 'Permanent Redirect'}`;
  respondLogged(ex, tls.redirectStatus, false, r, `${line}\n${location}\n`, { writeHeaders: (out) => out.writeHeader('Location', location) }, null, null);
}
