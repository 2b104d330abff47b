/**
 * Steps 1-5 of `fulcrum explain` (path, access lists, limits, route, rate limit), each decided
 * by the code a worker runs: routePath and Router.match (router.ts), AccessList.allows,
 * targetRefusal (guard/limits.ts), rateKey and peekRate (guard/rate-limiter.ts). What is added
 * here is only the why: which list entry matched, which routes lost and why (Router.trace, checked
 * against match()'s answer).
 */
import type { AccessConfig } from '../config/schema.js';
import { ERRORS } from '../errors.js';
import { CidrSet } from '../net/cidr.js';
import type { AccessList } from '../worker/guard/access-list.js';
import { targetRefusal } from '../worker/guard/limits.js';
import { peekRate, rateKey } from '../worker/guard/rate-limiter.js';
import type { NullExchange } from '../worker/engine/null-exchange.js';
import { hostOnly, type RouteTarget } from '../worker/router.js';
import type { Routing } from '../worker/runtime.js';
import type { AccessCheck, AccessStep, LimitsStep, PathStep, RateStep, RouteRef, RouteStep, StepLine } from './explanation.js';

/** routeRef names a route as the config does. */
export function routeRef(routing: Routing, t: RouteTarget): RouteRef {
  const r = routing.cfg.raw.routes[t.index]!;
  return { index: t.index, name: r.name ?? r.host + r.pathPrefix, host: r.host, pathPrefix: r.pathPrefix, upstream: r.upstream };
}

export function pathStep(target: string, routedPath: string): PathStep {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const summary =
    routedPath === path
      ? `${path} (routed as received); forwarded as ${target}`
      : `${path} is routed as ${routedPath} (normalised: README "Routing"); forwarded as received: ${target}`;
  return {
    step: 1,
    name: 'path',
    reached: true,
    decides: false,
    summary,
    lines: [],
    path,
    query: q === -1 ? '' : target.slice(q),
    routedPath,
    forwarded: target,
  };
}

/** accessCheck applies a compiled list (the decision) and finds the entry behind it (the why). */
export function accessCheck(list: AccessList | null, spec: AccessConfig | undefined, addr: Uint8Array): AccessCheck | null {
  if (list === null || spec === undefined) return null;
  const allowed = list.allows(addr);
  const hit = (entries: readonly string[]) => entries.find((c) => CidrSet.fromStrings([c]).has(addr)) ?? null;
  const deny = hit(spec.deny);
  const check: AccessCheck = { allowed, rule: null, list: null, action: spec.denyAction };
  if (!allowed) {
    check.rule = deny;
    check.list = deny !== null ? 'deny' : 'allow';
  } else if (spec.allow.length !== 0) {
    check.rule = hit(spec.allow);
    check.list = 'allow';
  }
  return check;
}

function accessText(c: AccessCheck | null): string {
  if (c === null) return 'no list';
  const answer = c.action === 'close' ? 'connection closed' : '403';
  if (!c.allowed) return c.list === 'deny' ? `denied by deny ${c.rule} (${answer})` : `denied: in no entry of the allow list (${answer})`;
  return c.list === 'allow' ? `allowed by allow ${c.rule}` : 'allowed (in no deny entry)';
}

export function accessStep(global: AccessCheck | null, route: AccessCheck | null, routed: boolean, redirect: number | null): AccessStep {
  let summary = `global: ${accessText(global)}; route: ${routed ? accessText(route) : 'no route'}`;
  if (redirect !== null) summary += `; plain HTTP: redirected to HTTPS with ${redirect} (tls.redirectHttp)`;
  return { step: 2, name: 'access', reached: true, decides: false, summary, lines: [], global, route, redirect };
}

export function limitsStep(routing: Routing, ex: NullExchange): LimitsStep {
  const l = routing.limits;
  const cl = ex.field('content-length');
  const urlRefusal = targetRefusal(ex.target, l.maxUrlBytes);
  return {
    step: 3,
    name: 'limits',
    reached: true,
    decides: false,
    summary: '',
    lines: [],
    urlBytes: ex.target.length,
    maxUrlBytes: l.maxUrlBytes,
    urlRefusal,
    fields: ex.fields.length / 2,
    maxHeaders: l.maxHeaders,
    maxHeaderBytes: l.maxHeaderBytes,
    headRefusal: null,
    headStatus: null,
    contentLength: /^\d{1,15}$/.test(cl) ? Number(cl) : null,
    maxBodyBytes: l.maxBodyBytes,
    maxConnectionsPerClient: l.maxConnectionsPerClient,
  };
}

/** limitsSummary writes step 3's line once the head is built (its refusals are buildHead's). */
export function limitsSummary(s: LimitsStep): string {
  const url =
    s.urlRefusal === null
      ? `URL ${s.urlBytes} of ${s.maxUrlBytes} bytes`
      : `URL refused: ${ERRORS[s.urlRefusal as 'url-too-long'].log} (${ERRORS[s.urlRefusal as 'url-too-long'].status})`;
  const head =
    s.headRefusal === null
      ? `${s.fields} field${s.fields === 1 ? '' : 's'} (max ${s.maxHeaders}, ${s.maxHeaderBytes} bytes)`
      : `head refused: ${s.headRefusal} (${s.headStatus})`;
  const body =
    s.contentLength === null
      ? 'no Content-Length'
      : s.contentLength > s.maxBodyBytes
        ? `body of ${s.contentLength} bytes over ${s.maxBodyBytes} (413)`
        : `body ${s.contentLength} of ${s.maxBodyBytes} bytes`;
  const perClient = s.maxConnectionsPerClient > 0 ? `; at most ${s.maxConnectionsPerClient} requests in flight per client` : '';
  return `${url}; ${head}; ${body}${perClient}`;
}

const CLASS_WORD = { exact: 'exact host', wildcard: 'wildcard', any: 'any host' } as const;

/** routeStep asks the router (match) and lists what it compared (trace), which must agree. */
export function routeStep(routing: Routing, hostHeader: string, routedPath: string): RouteStep {
  const matched = routing.router.match(hostHeader, routedPath);
  const trace = routing.router.trace(hostHeader, routedPath);
  const win = trace.findIndex((c) => c.prefixMatches);
  if ((win === -1 ? undefined : trace[win]!.target) !== matched)
    throw new Error('explain: Router.trace disagrees with Router.match (a bug: please report it with the config)');
  const winner = win === -1 ? null : trace[win]!;
  const candidates = trace.map((c, i) => {
    let why: string;
    // match() stops at the winner's host class: routes of later classes are never compared
    if (i === win) why = 'chosen: the longest matching prefix';
    else if (winner !== null && i > win && c.pattern !== winner.pattern) why = 'not tried: a more specific host class matched first';
    else if (!c.prefixMatches) why = 'prefix does not match';
    else why = 'shorter prefix';
    return { route: routeRef(routing, c.target), hostClass: c.hostClass, pattern: c.pattern, prefixMatches: c.prefixMatches, why };
  });
  const wp = Math.max(...candidates.map((c) => c.pattern.length), 1);
  const wx = Math.max(...candidates.map((c) => c.route.pathPrefix.length), 1);
  const wu = Math.max(...candidates.map((c) => c.route.upstream.length), 1);
  const lines: StepLine[] = candidates.map((c, i) => ({
    mark: i === win,
    text: `${c.hostClass.padEnd(8)} ${c.pattern.padEnd(wp)}  ${c.route.pathPrefix.padEnd(wx)}  -> ${c.route.upstream.padEnd(wu)}  ${c.why}`,
  }));
  const host = hostOnly(hostHeader);
  const route = matched === undefined ? null : routeRef(routing, matched);
  const summary =
    route === null
      ? `no route for host ${JSON.stringify(host)} and path ${routedPath}: 404${trace.length === 0 ? ' (no route for this host at all)' : ''}`
      : `"${route.name}" (${CLASS_WORD[winner!.hostClass]} ${winner!.pattern}, prefix ${route.pathPrefix}) -> upstream ${route.upstream}`;
  return {
    step: 4,
    name: 'route',
    reached: true,
    decides: false,
    summary,
    lines,
    host,
    route,
    candidates,
    otherRoutes: routing.routes.length - trace.length,
  };
}

/** rateStep: the bucket key (rateKey) and take()'s verdict without taking (peekRate). */
export function rateStep(routing: Routing, routeIndex: number | null, ex: NullExchange, tokens: ((key: string, burst: number) => number) | null): RateStep {
  const base = { step: 5, name: 'rate-limit' as const, reached: true, decides: false, lines: [] };
  const rs = routeIndex === null ? null : routing.routes[routeIndex]!.rate;
  if (rs === null) {
    return {
      ...base,
      summary: routeIndex === null ? 'no route' : 'no rate limit on this route',
      scope: null,
      key: null,
      ratePerSecond: 0,
      burst: 0,
      tokens: null,
      admitted: true,
      retryAfterSeconds: 0,
    };
  }
  const key = rateKey(rs, ex);
  const peek = tokens === null ? peekRate(rs, key) : peekRate(rs, key, tokens(key, rs.burst));
  const scope = typeof routing.cfg.raw.routes[routeIndex!]!.rateLimit === 'object' ? 'route' : 'global';
  const by = rs.header !== null ? `header ${rs.header}` : 'client address';
  const left =
    tokens === null
      ? `a new bucket (${rs.burst} tokens; each of ${rs.workers} workers spends ${fmt(rs.burst / rs.workers)} until the primary shares it out)`
      : `${fmt(peek.tokens)} of ${rs.burst} tokens left (cluster-wide)`;
  const verdict = peek.wait === 0 ? 'admitted' : `refused: 429, Retry-After ${peek.wait}`;
  return {
    ...base,
    summary: `${scope} limit ${rs.rate}/s, burst ${rs.burst}, by ${by}: bucket ${key}: ${left}: ${verdict}`,
    scope,
    key,
    ratePerSecond: rs.rate,
    burst: rs.burst,
    tokens: tokens === null ? rs.burst : peek.tokens,
    admitted: peek.wait === 0,
    retryAfterSeconds: peek.wait,
  };
}

export function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
