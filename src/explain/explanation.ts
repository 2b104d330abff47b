/**
 * The document `fulcrum explain` produces (its --json, and GET /explain's answer): the request,
 * what finally happens to it (outcome), and the nine steps of the issue, each with its typed
 * facts for machines plus a one-line summary and marked lines (the winner among routes and
 * servers) that the terminal and the dashboard print as they are. Version 1; fields are added,
 * never renamed.
 */
import type { CacheProbeAnswer } from '../ipc.js';

export type StepName = 'path' | 'access' | 'limits' | 'route' | 'rate-limit' | 'cache' | 'compression' | 'balancing' | 'head';

/** A line under a step's summary: a route or server compared; `mark` on the one chosen. */
export interface StepLine {
  mark: boolean;
  text: string;
}

interface StepBase<N extends StepName> {
  step: number;
  name: N;
  /** the request gets this far (false: answered by an earlier step in the order fulcrum runs them) */
  reached: boolean;
  /** this step answers the request itself (a refusal, a redirect, a cached response) */
  decides: boolean;
  summary: string;
  lines: StepLine[];
}

export interface RouteRef {
  /** index in config.routes */
  index: number;
  name: string;
  host: string;
  pathPrefix: string;
  upstream: string;
}

export interface AccessCheck {
  allowed: boolean;
  /** the entry that decided: a deny entry that matched, the allow entry that matched, or null */
  rule: string | null;
  /** the list that decided ("allow" also when the address is in no entry of a non-empty allow list) */
  list: 'allow' | 'deny' | null;
  /** what a denied client gets */
  action: '403' | 'close';
}

export type PathStep = StepBase<'path'> & {
  /** the path before the query, as received */
  path: string;
  query: string;
  /** the form routing, route access lists and rate limits use (README "Routing") */
  routedPath: string;
  /** the target forwarded: exactly as received */
  forwarded: string;
};

export type AccessStep = StepBase<'access'> & {
  /** global lists (null: none) */
  global: AccessCheck | null;
  /** the matched route's lists (null: none, or no route) */
  route: AccessCheck | null;
  /** tls.redirectHttp answers a plain-HTTP request with this status (null: no redirect) */
  redirect: number | null;
};

export type LimitsStep = StepBase<'limits'> & {
  urlBytes: number;
  maxUrlBytes: number;
  /** what the target checks refuse: "url-too-long" (414), "malformed-request" (400), or null */
  urlRefusal: string | null;
  fields: number;
  maxHeaders: number;
  maxHeaderBytes: number;
  /** why the head would not be forwarded (400, or 431 for too many / too large fields), or null */
  headRefusal: string | null;
  headStatus: number | null;
  /** Content-Length (null: none) */
  contentLength: number | null;
  maxBodyBytes: number;
  maxConnectionsPerClient: number;
};

export type RouteStep = StepBase<'route'> & {
  /** the Host as routing reads it: lowercase, no port or trailing dot */
  host: string;
  route: RouteRef | null;
  /** every route of the host classes this host belongs to, in the order they are tried */
  candidates: { route: RouteRef; hostClass: 'exact' | 'wildcard' | 'any'; pattern: string; prefixMatches: boolean; why: string }[];
  /** routes for other hosts (not compared) */
  otherRoutes: number;
};

export type RateStep = StepBase<'rate-limit'> & {
  /** where the limit comes from: the route's own, the global one, or none */
  scope: 'route' | 'global' | null;
  key: string | null;
  ratePerSecond: number;
  burst: number;
  /** tokens in the bucket now (config alone: a new bucket, full; --live: the primary's cluster-wide bucket) */
  tokens: number | null;
  admitted: boolean;
  retryAfterSeconds: number;
};

export type CacheStep = StepBase<'cache'> & {
  caches: boolean;
  /** the cache's primary key: host + target (null: the route does not cache) */
  key: string | null;
  /** the request's facts the cache decides on */
  lookup: boolean;
  bypass: string | null;
  /** the Vary'd request fields of the stored variants, with this request's values */
  vary: [string, string | null][] | null;
  /** what one worker's cache holds (--live; null: not asked or no answer) */
  entry: CacheProbeAnswer | null;
};

export type CompressionStep = StepBase<'compression'> & {
  compresses: boolean;
  acceptEncoding: string;
  /** the encoding negotiate() chose (null: identity) */
  encoding: string | null;
  algorithms: string[];
  minBytes: number;
  maxBytes: number;
};

export interface ServerLine {
  id: string;
  url: string;
  backup: boolean;
  /** "up", "down" (active check), "ejected" (passive), "drained" */
  state: 'up' | 'down' | 'ejected' | 'drained';
  /** effective weight (slow start ramps it) and the configured one */
  weight: number;
  configuredWeight: number;
  inFlight: number;
  maxConnections: number;
  /** at maxConnections or the adaptive concurrency share: skipped by the pick */
  full: boolean;
  /** among the servers the policy chose from */
  candidate: boolean;
  picked: boolean;
  /** random policies: the chance this server is picked */
  probability: number | null;
}

export type BalancingStep = StepBase<'balancing'> & {
  upstream: string | null;
  policy: string | null;
  /** the "hash" policy's key: where it is read from and its value ("" absent: round-robin) */
  hashKey: { from: string; value: string } | null;
  /** sticky sessions: the key read from the request and what the table has */
  sticky: { mode: 'cookie' | 'ip'; key: string; found: 'kept' | 'moved' | 'hint' | 'new'; cookieName: string | null } | null;
  servers: ServerLine[];
  picked: string | null;
  /** the policy draws random numbers: probabilities exact (every draw enumerated) or sampled */
  random: 'exact' | 'sampled' | null;
  /** round-robin: the next picks from this position (each worker keeps its own position) */
  next: string[] | null;
  /** every available server is full: the request waits in the upstream's queue */
  queued: boolean;
};

export type HeadStep = StepBase<'head'> & {
  /** the request head sent upstream, byte for byte (CRLF line ends); null when it would not be sent */
  head: string | null;
  /** the cache's fill leaves the client's conditional fields out */
  cacheFill: boolean;
  bodyMode: 'none' | 'length' | 'chunked';
};

export type Step = PathStep | AccessStep | LimitsStep | RouteStep | RateStep | CacheStep | CompressionStep | BalancingStep | HeadStep;

export interface Outcome {
  /** forward (to `server`), queue (wait for a server), cache (answered from memory), refuse (fulcrum answers `status`), close (no answer), redirect */
  action: 'forward' | 'queue' | 'cache' | 'refuse' | 'close' | 'redirect';
  /** the status fulcrum answers with itself (null: the server's) */
  status: number | null;
  /** the step that decides */
  step: StepName;
  reason: string;
  route: RouteRef | null;
  upstream: string | null;
  server: string | null;
  cacheKey: string | null;
}

export interface Explanation {
  version: 1;
  /** "config": from the file alone; "live": the running primary's state */
  source: 'config' | 'live';
  /** the config file, or "generation N" of the running fulcrum */
  config: string;
  request: {
    method: string;
    target: string;
    secure: boolean;
    client: string;
    /** --client was not given: 127.0.0.1 stands in */
    clientDefaulted: boolean;
    fields: [string, string][];
  };
  outcome: Outcome;
  steps: Step[];
  /** what the answer could not know, or assumed */
  notes: string[];
}
