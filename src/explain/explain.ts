/**
 * `fulcrum explain`: what fulcrum would do with one request, and why, step by step. It runs the
 * checks in the order a worker's dispatcher and ProxyRequest.start run them (dispatch.ts: global
 * access list, HTTPS redirect, target limits, route, route access list, rate limit, then the cache
 * or the proxy: server pick, head, body size, queue), each with the worker's own code over a
 * Routing built by the worker's own buildRouting (runtime.ts), as dry runs that change nothing.
 * The first check that answers the request is the outcome; the steps after it in that order are
 * still shown, marked not reached.
 *
 * From the config alone, servers are up, idle and without sessions, rate-limit buckets full and
 * the cache's contents unknown; with --live the primary's state is applied first (LiveState).
 */
import { ERRORS, type ErrorKind } from '../errors.js';
import type { CacheProbeAnswer } from '../ipc.js';
import type { ClientPeer } from '../worker/engine/exchange.js';
import { NullExchange } from '../worker/engine/null-exchange.js';
import { routePath } from '../worker/router.js';
import type { Routing } from '../worker/runtime.js';
import type { SessionLookup } from '../worker/sticky.js';
import { accessCheck, accessStep, limitsStep, limitsSummary, pathStep, rateStep, routeRef, routeStep } from './edge-steps.js';
import type { Explanation, Outcome, Step, StepName } from './explanation.js';
import { balancingStep, cacheStep, compressionStep, headStep } from './proxy-steps.js';
import { fieldPairs, type ExplainRequest } from './request.js';

/** LiveState is what the running primary knows beyond the config (src/primary/explain-api.ts applies the rest to the servers). */
export interface LiveState {
  /** the primary's sticky-session table of an upstream */
  sessions(upstream: string): SessionLookup;
  /** tokens left in the cluster-wide bucket of a rate-limit key (a key without a bucket: burst) */
  rateTokens(key: string, burst: number): number;
  /** what one worker's cache holds for the request (null: no worker answered; undefined: not asked) */
  cacheEntry: CacheProbeAnswer | null | undefined;
}

const NO_SESSIONS: SessionLookup = { get: () => undefined };

/**
 * The order the checks run in (a worker's dispatcher, then ProxyRequest.start), and so which one
 * answers first; each step of the answer starts at one of these points.
 */
const ORDER = ['global-access', 'redirect', 'target', 'route', 'route-access', 'rate', 'cache', 'pick', 'head', 'body', 'server'] as const;
type Point = (typeof ORDER)[number];
const STEP_STARTS: Record<StepName, Point> = {
  path: 'global-access',
  access: 'global-access',
  limits: 'target',
  route: 'route',
  'rate-limit': 'rate',
  cache: 'cache',
  compression: 'cache',
  balancing: 'pick',
  head: 'head',
};
const STEP_OF: Record<Point, StepName> = {
  'global-access': 'access',
  redirect: 'access',
  target: 'limits',
  route: 'route',
  'route-access': 'access',
  rate: 'rate-limit',
  cache: 'cache',
  pick: 'balancing',
  head: 'limits',
  body: 'limits',
  server: 'balancing',
};

/** explain explains one request against `routing`; `config` names its source for the answer. */
export function explain(routing: Routing, req: ExplainRequest, config: string, live: LiveState | null): Explanation {
  const raw = routing.cfg.raw;
  const notes: string[] = [];
  // the peer as dispatch's checkPeer fills it
  const peer: ClientPeer = {
    bytes: req.clientBytes,
    ip: req.clientIp,
    gen: -1,
    trusted: routing.trusted.has(req.clientBytes),
    allowed: routing.access === null || routing.access.allows(req.clientBytes),
    busy: -1,
  };
  const ex = new NullExchange({ method: req.method, target: req.target, secure: req.secure, fields: req.fields, peer });

  const routedPath = routePath(req.target);
  const path = pathStep(req.target, routedPath);
  const route = routeStep(routing, ex.field('host'), routedPath);
  const rr = route.route === null ? null : routing.routes[route.route.index]!;
  const globalAccess = accessCheck(routing.access, raw.access, req.clientBytes);
  const routeAccess = rr === null ? null : accessCheck(rr.access, raw.routes[rr.target.index]!.access, req.clientBytes);
  const redirect = raw.tls?.redirectHttp && !req.secure ? raw.tls.redirectStatus : null;
  const access = accessStep(globalAccess, routeAccess, rr !== null, redirect);
  const limits = limitsStep(routing, ex);
  const rate = rateStep(routing, rr === null ? null : rr.target.index, ex, live === null ? null : live.rateTokens);
  const cache = cacheStep(rr, ex, live === null ? undefined : live.cacheEntry);
  const compression = compressionStep(rr, ex);
  const balancing = balancingStep(rr, ex, live === null || rr === null ? NO_SESSIONS : live.sessions(rr.upstream.name));
  // the head of a cache fill leaves the client's conditionals out (CacheRequest.forFill); a pass forwards it as sent
  const creq = cache.creq;
  const fill = creq !== null && cache.step.lookup && req.method === 'GET' && !creq.hasRange && !cache.answers;
  if (fill) creq.forFill(null, null);
  const head = headStep(rr, routing, ex, balancing.server, fill ? creq : null);
  if (head.info?.reject != null) {
    limits.headRefusal = head.info.reject;
    limits.headStatus = ERRORS[head.info.rejectKind].status;
  }
  limits.summary = limitsSummary(limits);

  // the first check that answers, in the order a worker runs them
  let at: Point | null = null;
  let outcome: Omit<Outcome, 'route' | 'upstream' | 'server' | 'cacheKey' | 'step'> = { action: 'forward', status: null, reason: '' };
  const answer = (p: Point, o: typeof outcome) => {
    if (at !== null) return;
    at = p;
    outcome = o;
  };
  const denied = (p: Point, c: typeof globalAccess, which: string) =>
    answer(p, {
      action: c!.action === 'close' ? 'close' : 'refuse',
      status: c!.action === 'close' ? null : 403,
      reason: `${which} access list: ${c!.list === 'deny' ? `deny ${c!.rule}` : 'not in the allow list'}`,
    });
  const refuse = (p: Point, kind: ErrorKind, why: string) => answer(p, { action: 'refuse', status: ERRORS[kind].status, reason: why });

  if (globalAccess?.allowed === false) denied('global-access', globalAccess, 'global');
  if (redirect !== null) answer('redirect', { action: 'redirect', status: redirect, reason: 'plain HTTP with tls.redirectHttp: redirected to HTTPS' });
  if (limits.urlRefusal !== null) refuse('target', limits.urlRefusal as ErrorKind, ERRORS[limits.urlRefusal as ErrorKind].log);
  if (rr === null) refuse('route', 'no-route', ERRORS['no-route'].log);
  if (routeAccess?.allowed === false) denied('route-access', routeAccess, 'the route');
  if (!rate.admitted) refuse('rate', 'rate-limited', `rate limit: bucket ${rate.key} is empty (Retry-After ${rate.retryAfterSeconds})`);
  if (cache.answers) answer('cache', { action: 'cache', status: null, reason: `a stored response answers (${cache.step.entry!.use})` });
  if (cache.onlyIfCached) answer('cache', { action: 'refuse', status: 504, reason: 'only-if-cached and no stored response answers' });
  if (head.info?.reject != null) refuse('head', head.info.rejectKind, head.info.reject);
  if (limits.contentLength !== null && limits.contentLength > limits.maxBodyBytes) refuse('body', 'body-too-large', ERRORS['body-too-large'].log);
  if (rr !== null && balancing.server === undefined) {
    if (balancing.step.queued)
      answer('server', { action: 'queue', status: null, reason: 'every available server is at its limit: the request waits in the queue' });
    else refuse('server', 'no-server', ERRORS['no-server'].log);
  }
  if (at === null) answer('server', { action: 'forward', status: null, reason: 'forwarded' });

  const steps: Step[] = [path, access, limits, route, rate, cache.step, compression, balancing.step, head.step];
  const decided = ORDER.indexOf(at!);
  for (const s of steps) s.reached = ORDER.indexOf(STEP_STARTS[s.name]) <= decided;
  const decider = STEP_OF[at!];
  for (const s of steps) s.decides = s.name === decider && outcome.action !== 'forward';

  if (req.clientDefaulted) notes.push('client address 127.0.0.1 assumed (--client to set it)');
  if (req.secure && raw.tls === undefined) notes.push('https URL, but this config has no tls section: explained as if it arrived over TLS');
  if (ex.field('upgrade') !== '')
    notes.push('an Upgrade request (WebSocket) takes the same checks up to the pick, then is tunnelled: no cache, no compression');
  if (live === null) {
    notes.push(
      'from the config alone: servers up and idle, no sticky sessions, rate-limit buckets full, cache contents unknown (--live asks the running fulcrum)',
    );
  } else {
    notes.push('live: health, drain, slow start, sessions and rate-limit tokens from the primary; in-flight counts cluster-wide');
  }
  if (balancing.step.next !== null || balancing.step.policy === 'least-time')
    notes.push('each worker keeps its own round-robin position and latency averages: the pick shown starts from a fresh position');

  const server = outcome.action === 'forward' ? (balancing.step.picked ?? null) : null;
  // decided before routing: no route is involved
  const routed = decided >= ORDER.indexOf('route') && rr !== null;
  return {
    version: 1,
    source: live === null ? 'config' : 'live',
    config,
    request: {
      method: req.method,
      target: req.target,
      secure: req.secure,
      client: req.clientIp,
      clientDefaulted: req.clientDefaulted,
      fields: fieldPairs(req.fields),
    },
    outcome: {
      ...outcome,
      step: decider,
      route: routed ? routeRef(routing, rr.target) : null,
      upstream: routed ? rr.upstream.name : null,
      server,
      cacheKey: routed ? cache.step.key : null,
    },
    steps,
    notes,
  };
}
