/**
 * Steps 6-9 of `fulcrum explain` (cache, compression, balancing, the upstream head), each from the
 * code a worker runs: the cache's key and request facts (CacheRequest), negotiate() for
 * Accept-Encoding, previewServer (select.ts: the same hash key, sticky lookup and policy pick as a
 * request, as a dry run) and buildHead (head.ts). Probabilities of random picks come from the pick
 * itself (odds.ts); which servers the policy chose among, from the call the policy received.
 */
import { ERRORS } from '../errors.js';
import type { CacheProbeAnswer } from '../ipc.js';
import { CacheRequest } from '../worker/cache/cache-request.js';
import { negotiate } from '../worker/compress/negotiate.js';
import type { NullExchange } from '../worker/engine/null-exchange.js';
import { BodyMode, buildHeadFor, type HeadEdit, type HeadInfo } from '../worker/proxy/head.js';
import { previewServer, type Preview } from '../worker/proxy/select.js';
import type { RouteRuntime, Routing } from '../worker/runtime.js';
import { StickyHow, type SessionLookup } from '../worker/sticky.js';
import type { ServerState } from '../worker/upstream/server-state.js';
import type { Upstream } from '../worker/upstream/upstream.js';
import { fmt } from './edge-steps.js';
import type { BalancingStep, CacheStep, CompressionStep, HeadStep, ServerLine, StepLine } from './explanation.js';
import { drawsOf, oddsOf } from './odds.js';

/** what the cache would do with the request before any server is asked */
export interface CacheFacts {
  step: CacheStep;
  creq: CacheRequest | null;
  /** a stored response answers it (--live only) */
  answers: boolean;
  /** Cache-Control: only-if-cached and no stored response answers: 504 */
  onlyIfCached: boolean;
}

const AGE = (s: number) => `${fmt(Math.max(0, s))} s`;

/**
 * cacheStep: the route's cache setting, the key and request facts from CacheRequest (what
 * handleCached reads), and a worker's stored entry when --live asked one (`entry`: undefined when
 * not asked, null when no worker answered).
 */
export function cacheStep(rr: RouteRuntime | null, ex: NullExchange, entry: CacheProbeAnswer | null | undefined): CacheFacts {
  const base = { step: 6, name: 'cache' as const, reached: true, decides: false, lines: [] as StepLine[] };
  if (rr === null || rr.cache === null) {
    const step: CacheStep = {
      ...base,
      summary: rr === null ? 'no route' : 'this route does not cache',
      caches: false,
      key: null,
      lookup: false,
      bypass: null,
      vary: null,
      entry: null,
    };
    return { step, creq: null, answers: false, onlyIfCached: false };
  }
  const r = new CacheRequest(ex);
  const method = r.method;
  let bypass: string | null = null;
  if (method !== 'GET' && method !== 'HEAD')
    bypass = ['OPTIONS', 'TRACE', 'CONNECT'].includes(method) ? `${method} passes through` : `${method} passes through; a success invalidates the stored URL`;
  else if (r.hasBody) bypass = 'a request with a body passes through';
  const lookup = bypass === null;
  const notes: string[] = [];
  if (lookup && method === 'HEAD') notes.push('HEAD: a stored response answers it, else it passes through');
  if (lookup && r.hasRange) notes.push('Range: a stored response answers it, else it passes through (no partial responses are stored)');
  if (lookup && r.hasAuthorization) notes.push('Authorization: only responses that allow it (public, s-maxage, must-revalidate) answer it');
  const vary = entry?.varyNames ? entry.varyNames.map((n): [string, string | null] => [n, r.get(n) ?? null]) : null;
  let answers = false;
  let state: string;
  if (entry === undefined) state = 'what is stored: ask --live';
  else if (entry === null) state = 'no worker answered the cache probe';
  else if (!entry.stored)
    state = `worker ${entry.worker}: ${entry.varyNames === null ? 'nothing stored for this URL' : 'stored, but not for these Vary values'}${entry.filling ? ' (a fill is in flight: a miss waits for it)' : ''}`;
  else {
    answers = lookup && ['fresh', 'stale', 'stale-while-revalidate'].includes(entry.use) && !(r.hasAuthorization && !entry.authOk);
    const left = entry.ttlSeconds >= 0 ? `${AGE(entry.ttlSeconds)} fresh left` : `stale for ${AGE(-entry.ttlSeconds)}`;
    state = `worker ${entry.worker}: stored ${entry.status}, ${entry.bytes} bytes, age ${AGE(entry.ageSeconds)}, ${left}: ${entry.use}`;
  }
  const onlyIfCached = lookup && !answers && r.cc?.onlyIfCached === true;
  const varyText =
    vary !== null && vary.length !== 0 ? ` (Vary: ${vary.map(([n, v]) => `${n}=${v === null ? '(absent)' : JSON.stringify(v)}`).join(', ')})` : '';
  const summary = `key ${r.key}${varyText}; ${bypass ?? state}${notes.length ? '; ' + notes.join('; ') : ''}${onlyIfCached ? '; only-if-cached: 504' : ''}`;
  const step: CacheStep = { ...base, summary, caches: true, key: r.key, lookup, bypass, vary, entry: entry ?? null };
  return { step, creq: r, answers, onlyIfCached };
}

/** compressionStep: negotiate() over the route's algorithms, as dispatch and the cache call it. */
export function compressionStep(rr: RouteRuntime | null, ex: NullExchange): CompressionStep {
  const ae = ex.field('accept-encoding');
  const base = { step: 7, name: 'compression' as const, reached: true, decides: false, lines: [], acceptEncoding: ae };
  const cp = rr?.compress ?? null;
  if (cp === null)
    return {
      ...base,
      summary: rr === null ? 'no route' : 'this route does not compress',
      compresses: false,
      encoding: null,
      algorithms: [],
      minBytes: 0,
      maxBytes: 0,
    };
  const alg = ex.method === 'HEAD' ? null : negotiate(ae, cp.algorithms);
  const order = cp.algorithms.join(', ');
  let summary: string;
  if (ex.method === 'HEAD') summary = 'HEAD: no body to compress';
  else if (alg === null) summary = ae === '' ? 'identity: no Accept-Encoding' : `identity: Accept-Encoding ${JSON.stringify(ae)} accepts none of ${order}`;
  else
    summary = `${alg} (Accept-Encoding ${JSON.stringify(ae)}: highest q-value, ties in the order ${order}) for a response of a compressible type, not already encoded, of ${cp.minBytes} bytes or more (whole up to ${cp.maxBytes}, streamed above or without a length)`;
  return { ...base, summary, compresses: alg !== null, encoding: alg, algorithms: cp.algorithms, minBytes: cp.minBytes, maxBytes: cp.maxBytes };
}

const FOUND = { [StickyHow.Kept]: 'kept', [StickyHow.Moved]: 'moved', [StickyHow.Hint]: 'hint', [StickyHow.New]: 'new' } as const;
const NEXT_PICKS = 6;

/** the policy's pick, watched: the servers it chose among (a fresh Upstream of explain's own, never a worker's) */
function watched<T>(up: Upstream, fn: () => T): { value: T; candidates: readonly ServerState[] | null } {
  const policy = up.policy;
  const real = policy.pick;
  let candidates: ServerState[] | null = null;
  policy.pick = (servers, ctx) => {
    candidates = servers.slice() as ServerState[];
    return real.call(policy, servers, ctx);
  };
  try {
    return { value: fn(), candidates };
  } finally {
    policy.pick = real;
  }
}

function stateOf(s: ServerState): ServerLine['state'] {
  return s.drained ? 'drained' : !s.healthy ? 'down' : s.ejected ? 'ejected' : 'up';
}

export interface BalancingFacts {
  step: BalancingStep;
  server: ServerState | undefined;
}

/**
 * balancingStep: the pick of previewServer (a dry run of selectServer) over `sessions` (none from
 * the config alone; the primary's table with --live), the servers with their state, and for random
 * policies each server's probability, for round-robin the next picks from this position.
 */
export function balancingStep(rr: RouteRuntime | null, ex: NullExchange, sessions: SessionLookup): BalancingFacts {
  const base = { step: 8, name: 'balancing' as const, reached: true, decides: false };
  if (rr === null) {
    const step: BalancingStep = {
      ...base,
      summary: 'no route',
      lines: [],
      upstream: null,
      policy: null,
      hashKey: null,
      sticky: null,
      servers: [],
      picked: null,
      random: null,
      next: null,
      queued: false,
    };
    return { step, server: undefined };
  }
  const up = rr.upstream;
  const pv: Preview = { clientIp: ex.peer.ip, hashKey: '', stickyKey: '', setCookie: '', sticky: null, allFull: false };
  const preview = () => previewServer(up, ex, ex.target, pv, sessions);
  const { value: server, candidates } = watched(up, preview);
  const spec = up.spec;
  const sticky =
    pv.sticky === null
      ? null
      : {
          mode: spec.sticky.mode as 'cookie' | 'ip',
          key: pv.stickyKey,
          found: FOUND[pv.sticky],
          cookieName: spec.sticky.mode === 'cookie' ? spec.sticky.cookieName : null,
        };
  let probability: Map<string, number> | null = null;
  let random: BalancingStep['random'] = null;
  if (candidates !== null && drawsOf(preview) > 0) {
    const odds = oddsOf(candidates.length, () => preview()?.id);
    probability = odds.p;
    random = odds.exact ? 'exact' : 'sampled';
  }
  const hk = spec.balance === 'hash' ? spec.hashKey : undefined;
  const hashKey =
    hk === undefined ? null : { from: 'header' in hk ? `header ${hk.header}` : 'cookie' in hk ? `cookie ${hk.cookie}` : 'path', value: pv.hashKey };
  const next = rotation(up, pv, candidates, sticky, hashKey);
  const servers: ServerLine[] = up.servers.map((s) => ({
    id: s.id,
    url: s.spec.url,
    backup: s.spec.backup,
    state: stateOf(s),
    weight: s.weight,
    configuredWeight: s.spec.weight,
    inFlight: s.inFlight,
    maxConnections: s.spec.maxConnections,
    full: s.full(),
    // the policy did not run (a kept session): the session's server is the one candidate
    candidate: candidates === null ? s === server : candidates.includes(s),
    picked: s === server,
    probability: probability === null ? null : (probability.get(s.id) ?? 0),
  }));
  const wid = Math.max(...servers.map((s) => s.id.length));
  const lines: StepLine[] = servers.map((s) => ({ mark: s.picked, text: serverText(s, wid) }));
  const queued = server === undefined && pv.allFull;
  const step: BalancingStep = {
    ...base,
    summary: balancingSummary(up, server, sticky, hashKey, random, next, queued, ex.peer.ip),
    lines,
    upstream: up.name,
    policy: spec.balance,
    hashKey,
    sticky,
    servers,
    picked: server?.id ?? null,
    random,
    next,
    queued,
  };
  return { step, server };
}

/** rotation: round-robin's next picks from this position (the real pick, repeated, then put back) */
function rotation(
  up: Upstream,
  pv: Preview,
  candidates: readonly ServerState[] | null,
  sticky: BalancingStep['sticky'],
  hashKey: BalancingStep['hashKey'],
): string[] | null {
  if (candidates === null || candidates.length < 2 || sticky?.found === 'kept') return null;
  if (up.policy.name !== 'round-robin' && !(hashKey !== null && hashKey.value === '')) return null;
  const weights = up.servers.map((s) => s.currentWeight);
  try {
    const out: string[] = [];
    for (let i = 0; i < NEXT_PICKS; i++) out.push(up.pick(pv)?.id ?? '-');
    return out;
  } finally {
    for (let i = 0; i < weights.length; i++) up.servers[i]!.currentWeight = weights[i]!;
  }
}

function serverText(s: ServerLine, wid: number): string {
  const flags = [s.state, s.backup ? 'backup' : '', s.full ? 'full' : '', s.candidate ? '' : 'not a candidate'].filter(Boolean).join(', ');
  const weight = s.weight === s.configuredWeight ? `weight ${fmt(s.weight)}` : `weight ${fmt(s.weight)} of ${s.configuredWeight} (slow start)`;
  const max = s.maxConnections > 0 ? ` of max ${s.maxConnections}` : '';
  const p = s.probability === null ? '' : `  p=${(s.probability * 100).toFixed(1)}%`;
  return `${s.id.padEnd(wid)}  ${s.url}  ${flags}; ${weight}; ${s.inFlight} in flight${max}${p}`;
}

function balancingSummary(
  up: Upstream,
  server: ServerState | undefined,
  sticky: BalancingStep['sticky'],
  hashKey: BalancingStep['hashKey'],
  random: BalancingStep['random'],
  next: string[] | null,
  queued: boolean,
  clientIp: string,
): string {
  const spec = up.spec;
  let why: string;
  if (sticky?.found === 'kept') why = `its sticky session ${sticky.key}`;
  else if (sticky?.found === 'hint') why = `the server hint of session ${sticky.key} (not in the table yet)`;
  else if (hashKey !== null)
    why = hashKey.value === '' ? `no ${hashKey.from}: round-robin` : `rendezvous hash of ${hashKey.from} = ${JSON.stringify(hashKey.value)}`;
  else if (spec.balance === 'ip-hash') why = `rendezvous hash of the client address ${clientIp}`;
  else if (random !== null) why = `random (${random === 'exact' ? 'probabilities below' : 'probabilities sampled'})`;
  else if (up.policy.name === 'round-robin') why = `next in rotation${next ? `: ${next.join(' ')} ...` : ''}`;
  else if (spec.balance === 'least-time') why = 'lowest latency EWMA x (in flight + 1) / weight';
  else why = 'fewest requests in flight per weight (ties: round-robin)';
  if (sticky !== null && sticky.found === 'new')
    why += sticky.mode === 'cookie' ? `; no session: a new one, Set-Cookie ${sticky.cookieName}=<new id>` : '; no session for this address: a new one';
  if (sticky !== null && sticky.found === 'moved') why += `; session ${sticky.key} moves (its server is unavailable)`;
  const policy = `${up.name} (${spec.balance}${sticky ? `, sticky ${sticky.mode}` : ''})`;
  if (server === undefined)
    return queued
      ? `${policy}: every available server is full: queued (queueSize ${spec.queueSize}, ${spec.queueTimeoutMs} ms), else 503`
      : `${policy}: no server: 503`;
  return `${policy} -> ${server.id} ${server.spec.url}: ${why}`;
}

/**
 * headStep builds the head a server would get with buildHeadFor, with the options ProxyRequest.start
 * passes, and the cache's edit of a fill (the client's conditionals left out).
 */
export function headStep(
  rr: RouteRuntime | null,
  routing: Routing,
  ex: NullExchange,
  server: ServerState | undefined,
  edit: HeadEdit | null,
): { step: HeadStep; info: HeadInfo | null } {
  const base = { step: 9, name: 'head' as const, reached: true, decides: false, lines: [] };
  if (rr === null) return { step: { ...base, summary: 'no route', head: null, cacheFill: false, bodyMode: 'none' }, info: null };
  const info: HeadInfo = { head: '', bodyMode: BodyMode.None, contentLength: -1, reject: null, rejectKind: 'invalid-head' };
  const limits = routing.limits;
  buildHeadFor(ex, ex.method, ex.target, rr.upstream, server ? server.spec.hostPort : '', limits, edit, info);
  const bodyMode = info.bodyMode === BodyMode.Chunked ? 'chunked' : info.bodyMode === BodyMode.Length ? 'length' : 'none';
  const cacheFill = edit !== null && edit.drop !== null;
  if (info.reject !== null) {
    const step: HeadStep = { ...base, summary: `not sent: ${info.reject} (${ERRORS[info.rejectKind].status})`, head: null, cacheFill, bodyMode };
    return { step, info };
  }
  const lines = info.head
    .split('\r\n')
    .filter((l) => l !== '')
    .map((text) => ({ mark: false, text }));
  const summary = `${lines.length} lines, ${Buffer.byteLength(info.head)} bytes${cacheFill ? ' (a cache fill: conditional fields of the client left out)' : ''}${ex.peer.trusted ? '; the client is a trusted proxy: its X-Forwarded-* are kept and extended' : ''}`;
  return { step: { ...base, summary, lines, head: info.head, cacheFill, bodyMode }, info };
}
