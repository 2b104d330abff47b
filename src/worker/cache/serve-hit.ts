/**
 * Answering from the store (RFC 9111 4.2, 4.3.2): the stored response with Age and Cache-Status
 * (RFC 9211), or 304 for a client's own conditional request that matches it (RFC 9110 13.1),
 * compressed for clients that accept an encoding (compressed once per entry and encoding: the
 * result is stored with the entry, and concurrent requests share the pool task, or wait for the
 * variant the streamed miss is still compressing). An answer the cache makes alone (a hit; not a
 * fill's, which its ProxyRequest logs) writes its access log line here, as an edge answer does
 * (observe.ts): the route, no upstream or server, reason null; only-if-cached's 504 has its
 * kind as reason.
 */
import { ERRORS } from '../../errors.js';
import { STATUS_LINES } from '../../net/http-status.js';
import { compress } from '../compress/compressor.js';
import { BufferWriter } from '../compress/buffer-writer.js';
import { writeEncodedHead } from '../compress/compress-tap.js';
import { compressibleType, type Alg, type CompressPolicy } from '../compress/negotiate.js';
import { ResponseBody } from '../engine/exchange.js';
import { respondLogged, type HeaderSink } from '../guard/edge-response.js';
import { observeEdge, observeEdgeAnswer } from '../observe.js';
import { requestFinished, requestStarted } from '../obs/activity.js';
import type { CacheCtx, CacheSettings } from './cache-context.js';
import { currentAge, notModified, type CacheEntry } from './policy.js';
import { CacheStore } from './store.js';

/** Fields a 304 carries from the stored response (RFC 9110 15.4.5). */
const NOT_MODIFIED_FIELDS = new Set(['cache-control', 'content-location', 'etag', 'expires', 'vary', 'last-modified']);

/** serveHit answers c from entry e, labelled with cacheStatus. */
export function serveHit(c: CacheCtx, e: CacheEntry, cacheStatus: string): void {
  if (c.aborted) return;
  const nm = notModified(e, c.creq);
  const cp = c.compress;
  if (nm || cp === null || c.creq.method !== 'GET' || !entryCompressible(e, cp)) return writeEntry(c, e, cacheStatus, nm, null, null);
  const alg = c.alg;
  if (alg === null) return writeEntry(c, e, cacheStatus, false, null, null, true);
  const enc = e.encodings?.get(alg);
  if (enc !== undefined) return writeEntry(c, e, cacheStatus, false, alg, enc);
  const job = e.compressing?.get(alg) ?? track(c.settings, e, alg, compress(c.settings.compressor, e.body, alg, false));
  requestStarted();
  c.hold();
  job.then(
    (out) => {
      requestFinished();
      if (!c.aborted) writeEntry(c, e, cacheStatus, false, alg, out);
    },
    () => {
      requestFinished();
      if (!c.aborted) writeEntry(c, e, cacheStatus, false, null, null, true);
    },
  );
}

/** track makes `work` the shared compression of e in alg; its result is stored with e. */
function track(settings: CacheSettings, e: CacheEntry, alg: Alg, work: Promise<Buffer>): Promise<Buffer> {
  const store = settings.store;
  const job = work.then((out) => {
    (e.encodings ??= new Map()).set(alg, out);
    e.size = CacheStore.entrySize(e);
    store.refreshed(e);
    return out;
  });
  const jobs = (e.compressing ??= new Map());
  jobs.set(alg, job);
  const clear = () => {
    if (jobs.get(alg) === job) jobs.delete(alg);
  };
  job.then(clear, clear);
  return job;
}

/**
 * awaitVariant registers the variant of e in alg that a streamed miss is still compressing, so
 * that hits wait for it instead of compressing again; call the returned function with the
 * compressed body (null: the stream did not complete, the pool compresses the entry instead).
 */
export function awaitVariant(settings: CacheSettings, e: CacheEntry, alg: Alg): (body: Buffer | null) => void {
  let settle: ((b: Buffer | PromiseLike<Buffer>) => void) | null = null;
  track(settings, e, alg, new Promise<Buffer>((resolve) => (settle = resolve)));
  return (body) => settle!(body ?? compress(settings.compressor, e.body, alg, false));
}

/**
 * entryCompressible: would the route compress this stored response? Its whole body is in memory
 * already, so maxBytes (the limit on buffering a body to compress it whole) does not apply.
 */
function entryCompressible(e: CacheEntry, cp: CompressPolicy): boolean {
  return e.compressibleType && e.status >= 200 && e.status < 300 && e.status !== 204 && e.body.length >= cp.minBytes && compressibleType(cp, e.contentType);
}

// Exchanges run cork callbacks synchronously: the entry being written is held in module variables.
let wCtx: CacheCtx | null = null;
let wEntry: CacheEntry | null = null;
let wStatus = '';
let wNotModified = false;
let wAlg: Alg | null = null;
let wBody: Buffer | null = null;
let wVary = false;

function corkedEntry(): void {
  const c = wCtx!;
  const e = wEntry!;
  const ex = c.ex;
  const age = String(Math.max(0, Math.floor(currentAge(e, Date.now()))));
  const h = e.headers;
  const reason = e.statusLine.slice(4);
  if (wNotModified) {
    ex.writeStatus(304, 'Not Modified');
    for (let i = 0; i < h.length; i += 2) if (NOT_MODIFIED_FIELDS.has((h[i] as string).toLowerCase())) ex.writeHeader(h[i] as string, h[i + 1]!);
    ex.writeHeader('Age', age);
    ex.writeHeader('Cache-Status', wStatus);
    ex.endHead(ResponseBody.None, false);
    return ex.end();
  }
  const policy = c.settings.responses;
  if (wAlg !== null) {
    writeEncodedHead(ex, e.status, reason, h, wAlg, policy);
    ex.writeHeader('Age', age);
    ex.writeHeader('Cache-Status', wStatus);
    return BufferWriter.send(ex, wBody!);
  }
  ex.writeStatus(e.status, reason);
  if (policy.serverHeader !== null) ex.writeHeader('Server', policy.serverHeader);
  for (let i = 0; i < h.length; i += 2) ex.writeHeader(h[i] as string, h[i + 1]!);
  ex.writeHeader('Age', age);
  ex.writeHeader('Cache-Status', wStatus);
  if (wVary) ex.writeHeader('Vary', 'Accept-Encoding');
  if (e.status === 204) {
    ex.endHead(ResponseBody.None, false);
    return ex.end();
  }
  if (c.creq.method === 'HEAD') {
    ex.writeHeader('Content-Length', String(e.body.length));
    ex.endHead(ResponseBody.None, false);
    return ex.end();
  }
  BufferWriter.send(ex, e.body);
}

function writeEntry(c: CacheCtx, e: CacheEntry, cacheStatus: string, nm: boolean, alg: Alg | null, body: Buffer | null, vary = false): void {
  const log = c.logsAnswer ? c.settings.accessLog : null;
  if (log !== null) observeEdge(c.ex, c.route, log);
  wCtx = c;
  wEntry = e;
  wStatus = cacheStatus;
  wNotModified = nm;
  wAlg = alg;
  wBody = body;
  wVary = vary;
  c.ex.cork(corkedEntry);
  wCtx = wEntry = wBody = null;
  // the body bytes sent: none for a 304, a 204 or a HEAD
  if (log !== null) observeEdgeAnswer(nm ? 304 : e.status, null, nm || e.status === 204 || c.creq.method === 'HEAD' ? 0 : (body ?? e.body).length, log);
}

/** A Cache-Status field for a generated response. */
class CacheStatusField {
  constructor(private readonly value: string) {}
  writeHeaders(out: HeaderSink): void {
    out.writeHeader('Cache-Status', this.value);
  }
}
const ONLY_IF_CACHED = new CacheStatusField('fulcrum; fwd=miss; detail=only-if-cached');

/** gatewayTimeout answers a request with only-if-cached that the store cannot answer (RFC 9111 5.2.1.7). */
export function gatewayTimeout(c: CacheCtx): void {
  if (c.aborted) return;
  const e = ERRORS['only-if-cached'];
  respondLogged(c.ex, e.status, e.close, c.settings, `${STATUS_LINES[e.status]}\n${e.log}\n`, ONLY_IF_CACHED, 'only-if-cached', c.route);
}
