/**
 * The named benchmark workloads, shared by `fulcrum bench` and native-bench. Adding one is one
 * entry here: a request (method, path on the bench backend, body size, headers) and a connection
 * count; `fulcrumConfig` adjusts fulcrum's config for it (e.g. turn a cache or compression on) and
 * `direct: false` skips the direct-to-backend baseline when it would mean nothing, and `run`
 * replaces the HTTP load generator (e.g. a WebSocket echo driver; see load.ts for the contract).
 */
import type { LoadOptions, LoadResult } from './load.js';
import { runWsEcho } from './ws-load.js';

export interface Workload {
  /** short id used on the command line (--workloads get-100b,post-16k) */
  name: string;
  /** what the table shows */
  title: string;
  method: 'GET' | 'POST';
  /** path on the bench backend (scripts/bench/backend.ts) */
  path: string;
  /** request body size in bytes (POST) */
  bodyBytes?: number;
  /** a WebSocket workload: the size of each message in bytes (see ws-load.ts) */
  messageBytes?: number;
  /** expected response body size, for a sanity check of the first response */
  responseBytes: number;
  connections: number;
  headers?: Record<string, string>;
  /** changes to fulcrum's config for this workload (called with a copy of the base config) */
  fulcrumConfig?: (cfg: Record<string, unknown>) => Record<string, unknown>;
  /** run the direct-to-backend baseline too (default true) */
  direct?: boolean;
  /** part of native-bench's comparison with nginx and HAProxy (default true) */
  native?: boolean;
  /**
   * the proxy compresses the answer with this encoding (the request accepts it): native-bench runs
   * the workload only on the targets that compress (fulcrum, and nginx with `gzip on` at fulcrum's
   * level) and checks the decoded body's size
   */
  encoding?: 'gzip';
  /** a load driver of its own instead of autocannon (its results feed the same table and charts) */
  run?: (o: LoadOptions) => Promise<LoadResult>;
}

export const WORKLOADS: Workload[] = [
  { name: 'get-100b', title: 'GET 100 B, 64 conns', method: 'GET', path: '/bytes/100', responseBytes: 100, connections: 64 },
  { name: 'get-16k', title: 'GET 16 KiB, 64 conns', method: 'GET', path: '/bytes/16384', responseBytes: 16384, connections: 64 },
  { name: 'get-256k', title: 'GET 256 KiB, 64 conns', method: 'GET', path: '/bytes/262144', responseBytes: 262144, connections: 64 },
  { name: 'post-16k', title: 'POST 16 KiB, 64 conns', method: 'POST', path: '/upload', bodyBytes: 16384, responseBytes: 6, connections: 64 },
  // what an application answers: 1 KiB of JSON with ten header fields (Content-Type, Cache-Control, ETag, Set-Cookie, ...)
  { name: 'get-app', title: 'GET 1 KiB app JSON, 10 fields', method: 'GET', path: '/fields/1024', responseBytes: 1024, connections: 64 },
  // short-lived connections: one request per connection (Connection: close), the accept path
  {
    name: 'get-100b-close',
    title: 'GET 100 B, a new connection per request, 64 conns',
    method: 'GET',
    path: '/bytes/100',
    headers: { connection: 'close' },
    responseBytes: 100,
    connections: 64,
    fulcrumConfig: manyClients(1024),
  },
  // one client address with 1,000 connections: see manyClients
  {
    name: 'get-100b-1000c',
    title: 'GET 100 B, 1,000 conns',
    method: 'GET',
    path: '/bytes/100',
    responseBytes: 100,
    connections: 1000,
    fulcrumConfig: manyClients(1024),
  },
  // messages per second, reported as req/s
  wsEcho(64, 64),
  // compression, side by side with nginx's gzip at the same level (6): a body with a Content-Length
  // (fulcrum compresses it whole on its thread pool) and a chunked one (compressed as it streams)
  {
    name: 'get-64k-gzip',
    title: 'GET 64 KiB JSON, gzip',
    method: 'GET',
    path: '/json/65536',
    headers: { 'accept-encoding': 'gzip' },
    responseBytes: 65536,
    connections: 64,
    encoding: 'gzip',
    direct: false,
  },
  {
    name: 'get-1m-gzip-chunked',
    title: 'GET 1 MiB JSON chunked, gzip',
    method: 'GET',
    path: '/json-chunked/1048576',
    headers: { 'accept-encoding': 'gzip' },
    responseBytes: 1048576,
    connections: 16,
    encoding: 'gzip',
    direct: false,
  },
  // the same two responses without Accept-Encoding: what proxying them costs, so that the CPU of
  // compressing alone is the gzip workload's minus this one's (BENCHMARKS.md, "Compression")
  {
    name: 'get-64k-json',
    title: 'GET 64 KiB JSON, identity',
    method: 'GET',
    path: '/json/65536',
    responseBytes: 65536,
    connections: 64,
  },
  {
    name: 'get-1m-json-chunked',
    title: 'GET 1 MiB JSON chunked, identity',
    method: 'GET',
    path: '/json-chunked/1048576',
    responseBytes: 1048576,
    connections: 16,
  },
  // fulcrum's own features: nothing to compare with in native-bench's peer configs
  {
    name: 'get-64k-cached',
    title: 'GET 64 KiB JSON, cache hit',
    method: 'GET',
    path: '/cached/65536',
    responseBytes: 65536,
    connections: 64,
    fulcrumConfig: withRouteKey('cache', true),
    native: false,
  },
  {
    name: 'get-64k-br',
    title: 'GET 64 KiB JSON, br compressed',
    method: 'GET',
    path: '/json/65536',
    headers: { 'accept-encoding': 'br' },
    responseBytes: 65536,
    connections: 64,
    direct: false,
    native: false,
  },
];

/**
 * wsEcho is the WebSocket echo workload: `connections` WebSockets to the backend's /echo, each
 * sending its next `bytes`-byte message when the previous one's echo arrives (scripts/bench/ws-load.ts).
 */
export function wsEcho(connections: number, bytes: number): Workload {
  return {
    name: 'ws-echo',
    title: `WebSocket echo ${bytes} B, ${connections} conns`,
    method: 'GET',
    path: '/echo',
    messageBytes: bytes,
    responseBytes: bytes,
    connections,
    run: runWsEcho,
  };
}

/**
 * manyClients is the config for n connections from one address: n idle upstream connections kept
 * (with the default 128, the connections above it are closed on release and reopened by the next
 * burst of requests) and no per-client connection cap (limits.maxConnectionsPerClient, default
 * 256, would close the excess at once; nginx and HAProxy have no such cap unless configured).
 */
export function manyClients(n: number): (cfg: Record<string, unknown>) => Record<string, unknown> {
  const idle = withIdle(n);
  return (cfg) => {
    idle(cfg);
    cfg.limits = { ...(cfg.limits as object | undefined), maxConnectionsPerClient: 0 };
    return cfg;
  };
}

/** withRouteKey returns a fulcrumConfig that sets `key` on every route (e.g. cache: true). */
export function withRouteKey(key: string, value: unknown): (cfg: Record<string, unknown>) => Record<string, unknown> {
  return (cfg) => {
    for (const r of cfg.routes as Record<string, unknown>[]) r[key] = value;
    return cfg;
  };
}

/** withIdle returns a fulcrumConfig that keeps `n` idle connections per server (keepAlive.maxIdle). */
export function withIdle(n: number): (cfg: Record<string, unknown>) => Record<string, unknown> {
  return (cfg) => {
    const ups = cfg.upstreams as Record<string, Record<string, unknown>>;
    for (const u of Object.values(ups)) u.keepAlive = { ...(u.keepAlive as object | undefined), maxIdle: n };
    return cfg;
  };
}

/** selectWorkloads resolves a comma-separated list of names (empty: all). */
export function selectWorkloads(list: string | undefined, all: Workload[] = WORKLOADS): Workload[] {
  if (!list) return all;
  const out: Workload[] = [];
  for (const n of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const w = all.find((x) => x.name === n);
    if (!w) throw new Error(`unknown workload ${JSON.stringify(n)}; known: ${all.map((x) => x.name).join(', ')}`);
    out.push(w);
  }
  return out;
}
