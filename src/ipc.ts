/**
 * The only IPC module: every message between the primary and the workers is declared here, as
 * one discriminated union, and travels msgpackr-encoded over the node:cluster channel (which is
 * set to "advanced" serialization so the encoded bytes pass as binary, never as JSON).
 *
 * Workers report to the primary in batches, never per request.
 */
import { Packr } from 'msgpackr';
import type { Config } from './config/schema.js';
import type { UpstreamSpec } from './config/load.js';

/**
 * Primary -> worker: a config to run.
 *
 * At start (the worker runs no generation yet) the worker builds its runtime from it, starts
 * serving, and answers 'ready' (or 'fatal'). On a reload it only prepares: it builds the complete
 * runtime of the new generation (router, upstreams, limits, cache and compression settings, TLS
 * contexts, listeners bound where they change) without serving it, and answers 'prepared' or
 * 'config-failed'. The primary then sends every worker 'commit' (swap to it in one assignment,
 * answer 'ready') or, when any worker failed or died meanwhile, 'discard' (drop it, close what it
 * opened, keep serving the running generation untouched): a reload takes effect whole or not at all.
 */
export interface ConfigMsg {
  type: 'config';
  /** generation number, increases with every reload */
  generation: number;
  /** validated, with every default filled in */
  config: Config;
  workers: number;
  /**
   * the upstreams as the primary derived them (without health checks: the primary runs those), so
   * that workers never load the config schema and its validator (~8 MiB of memory per worker)
   */
  upstreams: Record<string, UpstreamSpec>;
}
/** Primary -> worker: stop accepting, finish in-flight requests within drainMs, exit 0. */
export interface ShutdownMsg {
  type: 'shutdown';
  drainMs: number;
}
/** Worker -> primary: the worker's message handler is in place; send it the config. (The primary
 * must not send on 'online': a message that arrives before the worker's ESM entry has run is lost.) */
export interface HelloMsg {
  type: 'hello';
  pid: number;
}
/** Worker -> primary: listening and serving. */
export interface ReadyMsg {
  type: 'ready';
  generation: number;
  pid: number;
  /** listen.engine of the worker */
  engine: 'fulcrum' | 'uws';
  /** the engine's build: fulcrum's with the Node version, or the uWS package and binary loaded */
  build: string;
}
/** Primary -> worker: serve the prepared generation (see ConfigMsg); the worker answers 'ready'. */
export interface CommitMsg {
  type: 'commit';
  generation: number;
}
/** Primary -> worker: drop the prepared generation (see ConfigMsg); the running one stays. */
export interface DiscardMsg {
  type: 'discard';
  generation: number;
}
/** Worker -> primary: the runtime of a reloaded config is built and waits for 'commit' or 'discard'. */
export interface PreparedMsg {
  type: 'prepared';
  generation: number;
  pid: number;
}
/**
 * Worker -> primary: a config (reload) could not be applied; the worker keeps serving the
 * generation it had, untouched. `reason` is for the operator (logged, and the answer of POST /reload).
 */
export interface ConfigFailedMsg {
  type: 'config-failed';
  generation: number;
  reason: string;
}
/** Worker -> primary: the worker cannot run (e.g. the port is taken); the primary must not restart it. */
export interface FatalMsg {
  type: 'fatal';
  reason: string;
}

/**
 * Worker -> primary, sent with the handle of one of the worker's listening sockets: send it back
 * `count` times (ListenCopyMsg). Each handle passed over the IPC channel arrives as a new
 * descriptor of the same socket, as node:cluster's own handle sharing does; a worker accepts one
 * connection per ready descriptor per event-loop iteration (src/worker/engine/accept-copies.ts).
 */
export interface ListenCopiesMsg {
  type: 'listen-copies';
  /** the worker's name for the listener, echoed in every copy */
  key: string;
  count: number;
}
/** Primary -> worker, sent with one copy of the listening socket's handle (see ListenCopiesMsg). */
export interface ListenCopyMsg {
  type: 'listen-copy';
  key: string;
}

/**
 * Worker -> primary, batched (src/worker/report.ts flushes every REPORT_INTERVAL_MS): each feature
 * fills its own optional section, so the primary gets one message per interval per worker,
 * whatever the request rate.
 */
export interface ReportMsg {
  type: 'report';
  sections: ReportSections;
}
/** Sections of a worker report; features add their own optional field here. */
export interface ReportSections {
  /** requests in flight per upstream server id, from this worker */
  inFlight?: Record<string, Record<string, number>>;
  /** response cache of this worker: totals since start, and the last purge it applied */
  cache?: CacheReport;
  /** compression of this worker: totals since start */
  compression?: { poolTasks: number; mainThreadTasks: number; bytesIn: number; bytesOut: number };
  /** failed requests per upstream, per server id, since the last report (passive health) */
  fails?: Record<string, Record<string, number>>;
  /**
   * sticky sessions created or moved since the last report: [upstream, key, server id, when (ms
   * since the epoch)]; the time orders decisions of different workers whose reports cross. 0: no
   * decision of the worker's own (it followed a cookie's server hint), which never overrides one
   */
  sticky?: [string, string, string, number][];
  /** sticky session keys used since the last report, per upstream (keeps them alive, LRU order) */
  stickyTouch?: Record<string, string[]>;
  /** rate limiting: requests admitted per bucket key since the last report */
  rateLimit?: Record<string, number>;
  /** per-client connection limit: this worker's most requests in flight since its previous report, per client address whose count changed */
  connections?: Record<string, number>;
  /** metrics deltas since the previous metrics section (src/worker/metrics.ts), every ~500 ms */
  metrics?: MetricsReport;
  /**
   * adaptive concurrency, for the upstreams that have it: per upstream, [requests waiting in this
   * worker's queue, per server id the latencies to the response head since the last report as
   * [microseconds, count, ...] (LatencyRecorder buckets)]
   */
  concurrency?: Record<string, [number, Record<string, number[]>]>;
  /** the answer to a cache probe (StateSections.cacheProbe), sent at once, on its own */
  cacheProbe?: CacheProbeAnswer;
}
/**
 * A cache probe of GET /explain (src/primary/explain-api.ts): one request, for one worker to look
 * up in its response cache without changing anything (CacheStore.peek). Not per request: an
 * operator's question.
 */
export interface CacheProbe {
  id: number;
  method: string;
  target: string;
  secure: boolean;
  /** [name, value, ...], names lowercase */
  fields: string[];
}
/** What a worker's cache holds for a probed request (src/worker/cache/cache-probe.ts). */
export interface CacheProbeAnswer {
  id: number;
  /** the worker's slot */
  worker: number;
  /** the URL has variants stored, with these Vary field names (null: nothing stored for the URL) */
  varyNames: string[] | null;
  /** the variant this request selects is stored */
  stored: boolean;
  /** how the stored response may answer the request (evaluate(), RFC 9111 4.2): "fresh", "stale" (max-stale), "stale-while-revalidate", "revalidate", "revalidate-requested"; "" when not stored */
  use: string;
  ageSeconds: number;
  /** freshness left (negative: stale for that long) */
  ttlSeconds: number;
  status: number;
  bytes: number;
  /** it may answer requests with Authorization (RFC 9111 3.5) */
  authOk: boolean;
  /** a fill of this URL is in flight: a miss now waits for it (coalescing) */
  filling: boolean;
}
export interface CacheReport {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  stored: number;
  revalidated: number;
  staleServed: number;
  coalesced: number;
  purged: number;
  /** id of the last purge applied and how many entries it dropped */
  lastPurge: { id: number; dropped: number } | null;
}
/** A purge of the response caches (POST /cache/purge): by URL, or by prefix. */
export interface CachePurge {
  /** increases with every purge; a worker applies each id once */
  id: number;
  /** "http://host/path?query", "host/path" or "/path" (any host) */
  value: string;
  prefix: boolean;
}

/** MetricsReport: counters as deltas, gauges as current values, latency as bucket counts. */
export interface MetricsReport {
  /** every registered family: name -> [type, help, label names] */
  families: Record<string, ['counter' | 'gauge', string, string[]]>;
  /** [family, label values, delta] */
  counters: [string, string[], number][];
  /** [family, label values, value] */
  gauges: [string, string[], number][];
  /** fulcrum_requests_total deltas: [route, upstream, server, code class, delta] */
  requests: [string, string, string, string, number][];
  /** fulcrum_upstream_errors_total deltas: [upstream, server, kind, delta] (kind "retry": retries) */
  errors: [string, string, string, number][];
  /** latency since the previous section: [upstream, server, [value, count, ...] in microseconds (HdrHistogram buckets, src/util/latency-recorder.ts), sum in microseconds] */
  latency: [string, string, number[], number][];
}
/** Primary -> worker: shared state the primary owns; features add their own optional field. */
export interface StateMsg {
  type: 'state';
  state: StateSections;
}
export interface StateSections {
  /** placeholder so the interface is never empty; features add fields */
  generation?: number;
  /** the latest cache purge, for every worker to apply */
  cachePurge?: CachePurge;
  /** per upstream, per server id: [flags (SERVER_DOWN | SERVER_EJECTED | SERVER_DRAINED), slow start end (epoch ms, 0: none)] */
  servers?: Record<string, Record<string, [number, number]>>;
  /** per upstream, per server id: requests in flight per worker slot, merged by the primary */
  inFlight?: Record<string, Record<string, number[]>>;
  /** sticky session table changes: [upstream, key, server id ("" = forget)]; full = replace the whole table */
  sticky?: { full: boolean; entries: [string, string, string][] };
  /**
   * rate limiting, sent to each worker on its own: per bucket key, [tokens left in the
   * cluster-wide bucket, this worker's share of them (0..1; the shares of one push sum to 1),
   * this worker's admitted requests counted since the previous push to it]
   */
  rateLimit?: Record<string, [number, number, number]>;
  /**
   * per-client connection limit, sent to each worker on its own: per client address that changed,
   * [this worker's reported peak as this push counted it, the cluster-wide total of peaks] ([0, 0]: gone)
   */
  connections?: Record<string, [number, number]>;
  /** adaptive concurrency: per upstream, per server id: [cluster-wide limit, then each worker slot's share of it] */
  concurrency?: Record<string, Record<string, number[]>>;
  /** a cache probe for GET /explain, sent to one worker, which answers with ReportSections.cacheProbe */
  cacheProbe?: CacheProbe;
}

/** server flags in StateSections.servers */
export const SERVER_DOWN = 1;
export const SERVER_EJECTED = 2;
export const SERVER_DRAINED = 4;

export const REPORT_INTERVAL_MS = 100;

export type PrimaryToWorker = ConfigMsg | CommitMsg | DiscardMsg | ShutdownMsg | StateMsg | ListenCopyMsg;
export type WorkerToPrimary = HelloMsg | ReadyMsg | PreparedMsg | ConfigFailedMsg | FatalMsg | ReportMsg | ListenCopiesMsg;
export type Message = PrimaryToWorker | WorkerToPrimary;

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encode(msg: Message): Uint8Array {
  return packr.pack(msg);
}

/** decode returns the message, or undefined for anything that is not one of ours. */
export function decode(raw: unknown): Message | undefined {
  if (!(raw instanceof Uint8Array)) return undefined;
  try {
    const m = packr.unpack(raw) as Message;
    return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** IpcPort is whatever can send cluster messages: a cluster Worker (from the primary) or process (in a worker). */
export interface IpcPort {
  send?(msg: unknown, ...rest: unknown[]): boolean;
  isConnected?(): boolean;
  connected?: boolean;
}

export function sendMsg(port: IpcPort, msg: Message): boolean {
  if (!port.send) return false;
  try {
    return port.send(encode(msg));
  } catch {
    return false; // channel closed: the peer is gone, its exit handler deals with it
  }
}

/**
 * sendMsgWithHandle sends a message with a socket handle (a descriptor passed over the channel).
 * `done` runs once the handle is written to the channel or could not be (the channel closed):
 * only then may the sender close its own handle.
 */
export function sendMsgWithHandle(port: IpcPort, msg: Message, handle: object, done: () => void): void {
  if (!port.send) {
    done();
    return;
  }
  try {
    port.send(encode(msg), handle, undefined, () => done());
  } catch {
    done(); // channel closed: the peer is gone
  }
}
