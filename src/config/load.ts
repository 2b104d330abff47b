/**
 * Reading and validating config.json. All parsing happens here, once: the rest of fulcrum gets
 * a `LoadedConfig` whose values are checked, defaulted and resolved (URLs parsed, CIDRs
 * compiled-ready, worker count decided).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, ServerSchema, UpstreamSchema, type AccessConfig, type Config, type ServerConfig, type UpstreamConfig } from './schema.js';
import { parseCidr } from '../net/cidr.js';
import { checkCertPair } from '../net/cert-pair.js';
import { locateJsonError } from './json-error.js';
import { checkConflicts } from './conflicts.js';

/** ConfigIssue is one problem found in a config, located by its JSON path. */
export interface ConfigIssue {
  /** JSONPath-style location, e.g. `$.upstreams.app.servers[0].url` */
  path: string;
  /** the offending value, as JSON (secrets masked) */
  value: string;
  /** what was expected */
  expected: string;
  /** lines of the file shown under the issue (a JSON syntax error: the line and a caret) */
  excerpt?: string;
}

export class ConfigError extends Error {
  readonly code = 'FULCRUM_ERR_CONFIG';
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${file}: ${issues.length} error${issues.length === 1 ? '' : 's'}\n` + issues.map(formatIssue).join('\n'));
  }
}

export function formatIssue(i: ConfigIssue): string {
  const excerpt = i.excerpt ? '\n' + i.excerpt.replace(/^/gm, '      ') : '';
  return `  ${i.path}: got ${i.value}; expected ${i.expected}${excerpt}`;
}

export interface ServerSpec {
  /** stable, URL-safe id derived from the address: "127.0.0.1_9001" */
  id: string;
  url: string;
  host: string;
  port: number;
  /** host:port as sent in a Host header */
  hostPort: string;
  weight: number;
  backup: boolean;
  /** most requests in flight cluster-wide (0: no limit) */
  maxConnections: number;
}

export interface UpstreamSpec {
  name: string;
  balance: Config['upstreams'][string]['balance'];
  servers: ServerSpec[];
  /** null = pass the client's Host; otherwise the literal to send ("server" is resolved per server) */
  hostHeader: 'client' | 'server' | string;
  forwardedHeader: UpstreamConfig['forwardedHeader'];
  realIpHeader: boolean;
  keepAlive: Config['upstreams'][string]['keepAlive'];
  hashKey: UpstreamConfig['hashKey'];
  sharedInFlight: boolean;
  /** active checks, resolved (undefined: none) */
  healthCheck: HealthCheckSpec | undefined;
  passiveHealth: UpstreamConfig['passiveHealth'];
  retries: number;
  retryOn: UpstreamConfig['retryOn'];
  slowStartMs: number;
  sticky: UpstreamConfig['sticky'];
  queueSize: number;
  queueTimeoutMs: number;
}

export interface HealthCheckSpec {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** inclusive status ranges that pass */
  expectStatus: [number, number][];
  /** body check: substring or regex (undefined: not checked) */
  expectBody: string | RegExp | undefined;
}

export interface LoadedConfig {
  file: string;
  raw: Config;
  workers: number;
  upstreams: Record<string, UpstreamSpec>;
}

/** readConfigFile reads and validates a config file; throws ConfigError listing every problem. */
export function readConfigFile(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [
      { path: '$', value: JSON.stringify(file), expected: `a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const at = locateJsonError(text);
    if (!at) throw new ConfigError(file, [{ path: '$', value: 'invalid JSON', expected: `valid JSON (${(err as Error).message})` }]);
    throw new ConfigError(file, [
      {
        path: '$',
        value: `invalid JSON at line ${at.line}, column ${at.column} (${file}:${at.line}:${at.column}): ${at.problem}`,
        expected: at.hint ? `strict JSON (RFC 8259): ${at.hint}` : 'strict JSON (RFC 8259)',
        excerpt: at.excerpt,
      },
    ]);
  }
  const loaded = validateConfig(json, file);
  expandAccessFiles(loaded);
  return loaded;
}

/**
 * expandAccessFiles appends the CIDRs of access.allowFile/denyFile (global and per route) to the
 * lists and clears the file keys, so the workers get plain lists. Throws ConfigError naming the
 * file and line of a bad entry.
 */
export function expandAccessFiles(loaded: LoadedConfig): void {
  const issues: ConfigIssue[] = [];
  const dir = path.dirname(loaded.file);
  const expand = (a: AccessConfig | undefined, at: string) => {
    if (!a) return;
    for (const [key, list] of [
      ['allowFile', 'allow'],
      ['denyFile', 'deny'],
    ] as const) {
      const f = a[key];
      if (!f) continue;
      const full = path.resolve(dir, f);
      let text: string;
      try {
        text = readFileSync(full, 'utf8');
      } catch (err) {
        issues.push({
          path: `${at}.${key}`,
          value: JSON.stringify(f),
          expected: `a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        });
        continue;
      }
      const out = [...a[list]];
      text.split('\n').forEach((line, i) => {
        const t = line.replace(/#.*/, '').trim();
        if (!t) return;
        if (!parseCidr(t))
          issues.push({ path: `${at}.${key}`, value: `${JSON.stringify(t)} (${full}:${i + 1})`, expected: 'one IPv4 or IPv6 address or CIDR range per line' });
        else out.push(t);
      });
      a[list] = out;
      a[key] = null;
    }
  };
  // error pages: made absolute, so that workers (which do not know the config's folder) can read them
  const pages = loaded.raw.responses.errorPages;
  for (const status of Object.keys(pages)) {
    const full = path.resolve(dir, pages[status]!);
    try {
      readFileSync(full);
      pages[status] = full;
    } catch (err) {
      issues.push({
        path: `$.responses.errorPages["${status}"]`,
        value: JSON.stringify(pages[status]),
        expected: `a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      });
    }
  }
  const tls = loaded.raw.tls;
  if (tls) {
    const files: [Record<string, unknown>, 'cert' | 'key', string][] = [
      [tls, 'cert', '$.tls.cert'],
      [tls, 'key', '$.tls.key'],
    ];
    for (const [i, s] of tls.sni.entries()) files.push([s, 'cert', `$.tls.sni[${i}].cert`], [s, 'key', `$.tls.sni[${i}].key`]);
    for (const [obj, key, at] of files) {
      const full = path.resolve(dir, obj[key] as string);
      try {
        readFileSync(full);
        obj[key] = full;
      } catch (err) {
        issues.push({
          path: at,
          value: JSON.stringify(obj[key]),
          expected: `a readable PEM file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        });
      }
    }
    if (!issues.some((i) => i.path.startsWith('$.tls'))) {
      const pairs: [string, string, string | null, string][] = [
        [tls.cert, tls.key, tls.passphrase, '$.tls'],
        ...tls.sni.map((s, i) => [s.cert, s.key, s.passphrase, `$.tls.sni[${i}]`] as [string, string, string | null, string]),
      ];
      for (const [cert, key, pass, at] of pairs) {
        const bad = checkCertPair(cert, key, pass);
        if (bad)
          issues.push({
            path: at,
            value: `${JSON.stringify(path.basename(cert))} + ${JSON.stringify(path.basename(key))}`,
            expected: `a usable certificate and key: ${bad}`,
          });
      }
    }
  }
  expand(loaded.raw.access, '$.access');
  for (const [i, r] of loaded.raw.routes.entries()) expand(r.access, `$.routes[${i}].access`);
  if (issues.length) throw new ConfigError(loaded.file, issues);
}

/** validateConfig checks a parsed config object against the schema and the cross-field rules. */
export function validateConfig(input: unknown, file = 'config'): LoadedConfig {
  const issues: ConfigIssue[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(file, [{ path: '$', value: show('$', input), expected: 'a JSON object' }]);
  }
  // Defaults are filled on a copy so that the caller's object stays as written.
  const cfg = Value.Default(ConfigSchema, structuredClone(input)) as Config;
  // Value.Default does not descend into records: fill each upstream (and its servers) here.
  if (isObject(cfg.upstreams)) {
    for (const [name, up] of Object.entries(cfg.upstreams)) {
      if (!isObject(up)) continue;
      const filled = Value.Default(UpstreamSchema, up) as UpstreamConfig;
      if (Array.isArray(filled.servers)) filled.servers = filled.servers.map((s) => (isObject(s) ? (Value.Default(ServerSchema, s) as ServerConfig) : s));
      cfg.upstreams[name] = filled;
    }
  }
  for (const e of Value.Errors(ConfigSchema, cfg)) {
    // A union's members each report; keep the union's own line and drop the per-member noise.
    const path = toJsonPath(e.path);
    if (issues.some((i) => i.path === path)) continue;
    issues.push({ path, value: show(path, e.value), expected: describeExpected(e.message, e.schema) });
  }
  // Cross-field rules the schema cannot express. They run even when the schema found problems,
  // so that one `fulcrum check` lists everything; each walks only what has the right shape.
  const upstreams: Record<string, UpstreamSpec> = {};
  const ups: Record<string, UpstreamConfig> = isObject(cfg.upstreams) ? cfg.upstreams : {};
  for (const [name, up] of Object.entries(ups)) {
    const seen = new Map<string, number>();
    const servers: ServerSpec[] = [];
    (Array.isArray(up?.servers) ? up.servers : []).forEach((s, i) => {
      if (!isObject(s) || typeof s.url !== 'string') return;
      const path = `$.upstreams.${name}.servers[${i}].url`;
      const parsed = parseServerUrl(s.url);
      if (typeof parsed === 'string') {
        issues.push({ path, value: show(path, s.url), expected: parsed });
        return;
      }
      const prev = seen.get(parsed.id);
      if (prev !== undefined) {
        issues.push({ path, value: show(path, s.url), expected: `a server not already listed (same as servers[${prev}])` });
        return;
      }
      seen.set(parsed.id, i);
      servers.push({ ...parsed, url: s.url, weight: s.weight, backup: s.backup, maxConnections: s.maxConnections });
    });
    if (servers.length && servers.every((s) => s.backup)) {
      issues.push({ path: `$.upstreams.${name}.servers`, value: 'only backup servers', expected: 'at least one server with "backup": false' });
    }
    if (up.balance === 'hash' && up.hashKey === undefined) {
      issues.push({
        path: `$.upstreams.${name}.hashKey`,
        value: 'nothing',
        expected: 'a hash key ({"header": name}, {"cookie": name} or {"path": true}) because balance is "hash"',
      });
    }
    const healthCheck = resolveHealthCheck(up.healthCheck, `$.upstreams.${name}.healthCheck`, issues);
    upstreams[name] = {
      name,
      balance: up.balance,
      servers,
      hostHeader: up.hostHeader,
      forwardedHeader: up.forwardedHeader,
      realIpHeader: up.realIpHeader,
      keepAlive: up.keepAlive,
      hashKey: up.hashKey,
      sharedInFlight: up.sharedInFlight,
      healthCheck,
      passiveHealth: up.passiveHealth,
      retries: up.retries,
      retryOn: up.retryOn,
      slowStartMs: up.slowStartMs,
      sticky: up.sticky,
      queueSize: up.queueSize,
      queueTimeoutMs: up.queueTimeoutMs,
    };
  }
  const routes = Array.isArray(cfg.routes) ? cfg.routes.filter(isObject) : [];
  routes.forEach((r, i) => {
    if (typeof r.upstream === 'string' && !(r.upstream in ups)) {
      const path = `$.routes[${i}].upstream`;
      issues.push({
        path,
        value: show(path, r.upstream),
        expected: `the name of an upstream (one of: ${Object.keys(ups)
          .map((n) => JSON.stringify(n))
          .join(', ')})`,
      });
    }
    const hostErr = typeof r.host === 'string' ? checkHostPattern(r.host) : undefined;
    if (hostErr) issues.push({ path: `$.routes[${i}].host`, value: show('', r.host), expected: hostErr });
  });
  const dup = new Map<string, number>();
  routes.forEach((r, i) => {
    if (typeof r.host !== 'string' || typeof r.pathPrefix !== 'string') return;
    const key = `${r.host.toLowerCase()} ${r.pathPrefix}`;
    const prev = dup.get(key);
    if (prev !== undefined)
      issues.push({
        path: `$.routes[${i}]`,
        value: JSON.stringify({ host: r.host, pathPrefix: r.pathPrefix }),
        expected: `a host and pathPrefix not already used by routes[${prev}]`,
      });
    else dup.set(key, i);
  });
  const checkAccess = (a: unknown, at: string) => {
    if (!isObject(a)) return;
    for (const key of ['allow', 'deny'] as const) {
      (Array.isArray(a[key]) ? (a[key] as unknown[]) : []).forEach((c, i) => {
        if (typeof c === 'string' && !parseCidr(c))
          issues.push({
            path: `${at}.${key}[${i}]`,
            value: show('', c),
            expected: 'an IPv4 or IPv6 address or CIDR range, e.g. "203.0.113.0/24" or "2001:db8::/32"',
          });
      });
    }
  };
  checkAccess(cfg.access, '$.access');
  for (const [i, r] of routes.entries()) checkAccess(r.access, `$.routes[${i}].access`);
  (Array.isArray(cfg.trustedProxies) ? cfg.trustedProxies : []).forEach((c, i) => {
    if (typeof c === 'string' && !parseCidr(c))
      issues.push({ path: `$.trustedProxies[${i}]`, value: show('', c), expected: 'an IPv4 or IPv6 address or CIDR range, e.g. "10.0.0.0/8" or "::1"' });
  });
  if (isObject(cfg.listen) && cfg.listen.engine === 'uws' && isObject(cfg.timeouts)) {
    // uWS 20.30 reads heads and idles connections with its own fixed 10 s: that is the default
    // there, and a value written in the file must say so
    const written = (input as { timeouts?: Record<string, unknown> }).timeouts;
    for (const k of ['headerMs', 'keepAliveMs'] as const) {
      if (!isObject(written) || written[k] === undefined) cfg.timeouts[k] = 10000;
      else if (typeof cfg.timeouts[k] === 'number' && cfg.timeouts[k] !== 10000)
        issues.push({ path: `$.timeouts.${k}`, value: show('', cfg.timeouts[k]), expected: '10000 with listen.engine "uws" (fixed by uWS 20.30)' });
    }
  }
  if (isObject(cfg.tls) && isObject(cfg.listen) && cfg.tls.port === cfg.listen.port) {
    issues.push({ path: '$.tls.port', value: show('', cfg.tls.port), expected: `a port other than listen.port (${cfg.listen.port})` });
  }
  checkConflicts(cfg, issues);
  if (isObject(cfg.admin) && cfg.admin.token === null && typeof cfg.admin.host === 'string' && !isLoopbackHost(cfg.admin.host)) {
    issues.push({
      path: '$.admin.token',
      value: 'null',
      expected: `a token of at least 16 characters, because admin.host ${JSON.stringify(cfg.admin.host)} is not a loopback address`,
    });
  }
  if (
    isObject(cfg.cache) &&
    typeof cfg.cache.maxObjectBytes === 'number' &&
    typeof cfg.cache.maxBytes === 'number' &&
    cfg.cache.maxObjectBytes > cfg.cache.maxBytes
  ) {
    issues.push({ path: '$.cache.maxObjectBytes', value: String(cfg.cache.maxObjectBytes), expected: `at most cache.maxBytes (${cfg.cache.maxBytes})` });
  }
  if (isObject(cfg.websocket)) {
    const w = cfg.websocket;
    if (typeof w.maxBufferedBytes === 'number' && typeof w.maxMessageBytes === 'number' && w.maxBufferedBytes < w.maxMessageBytes) {
      issues.push({
        path: '$.websocket.maxBufferedBytes',
        value: String(w.maxBufferedBytes),
        expected: `at least websocket.maxMessageBytes (${w.maxMessageBytes}), so that one message of the largest size fits`,
      });
    }
    if (typeof w.idleTimeoutMs === 'number' && w.idleTimeoutMs !== 0 && w.idleTimeoutMs < 8000) {
      issues.push({ path: '$.websocket.idleTimeoutMs', value: String(w.idleTimeoutMs), expected: '0 (disabled) or at least 8000' });
    }
  }
  if (issues.length) {
    issues.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    throw new ConfigError(file, issues);
  }

  const workers = cfg.workers === 'auto' ? os.availableParallelism() : cfg.workers;
  return { file, raw: cfg, workers, upstreams };
}

function resolveHealthCheck(hc: UpstreamConfig['healthCheck'], path: string, issues: ConfigIssue[]): HealthCheckSpec | undefined {
  if (!isObject(hc)) return undefined;
  let expectStatus: [number, number][] = [[200, 399]];
  if (Array.isArray(hc.expectStatus)) expectStatus = hc.expectStatus.map((c) => [c, c]);
  else if (typeof hc.expectStatus === 'string') {
    const [lo, hi] = hc.expectStatus.split('-').map(Number) as [number, number];
    if (lo > hi)
      issues.push({ path: `${path}.expectStatus`, value: show('', hc.expectStatus), expected: 'a range "low-high" with low <= high, e.g. "200-399"' });
    expectStatus = [[lo, hi]];
  }
  let expectBody: string | RegExp | undefined = hc.expectBody;
  const m = typeof expectBody === 'string' ? /^\/(.*)\/([a-z]*)$/s.exec(expectBody) : null;
  if (m) {
    try {
      expectBody = new RegExp(m[1]!, m[2]);
    } catch (err) {
      issues.push({ path: `${path}.expectBody`, value: show('', hc.expectBody), expected: `a valid /regex/flags (${(err as Error).message})` });
    }
  }
  if (hc.timeoutMs > hc.intervalMs) {
    issues.push({ path: `${path}.timeoutMs`, value: show('', hc.timeoutMs), expected: `at most intervalMs (${hc.intervalMs})` });
  }
  return { path: hc.path, intervalMs: hc.intervalMs, timeoutMs: hc.timeoutMs, rise: hc.rise, fall: hc.fall, expectStatus, expectBody };
}

const URL_HINT = 'an http:// URL with a host and an optional port 1-65535 and no path, e.g. "http://127.0.0.1:9001"';

/** parseServerUrl returns the parts of a server URL, or a description of what was expected. */
export function parseServerUrl(raw: string): Omit<ServerSpec, 'url' | 'weight' | 'backup' | 'maxConnections'> | string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[0-9a-fA-F:.]+\]|[^/:?#[\]@]+)(?::(\d{1,5}))?\/?$/.exec(raw);
  if (!m) {
    if (/^https:/i.test(raw)) return `${URL_HINT} (https upstreams are not supported yet)`;
    return URL_HINT;
  }
  if (m[1]!.toLowerCase() !== 'http') return `${URL_HINT} (scheme "${m[1]}" is not supported)`;
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (!(port >= 1 && port <= 65535)) return `${URL_HINT} (port ${m[3]} is out of range)`;
  let host = m[2]!.toLowerCase();
  const hostPort = `${host}:${port}`;
  if (host.startsWith('[')) host = host.slice(1, -1);
  else if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) return `${URL_HINT} ("${m[2]}" is not a valid host name)`;
  return { id: `${host.replace(/[^a-z0-9.-]/g, '_')}_${port}`, host, port, hostPort };
}

function checkHostPattern(h: string): string | undefined {
  if (h === '*') return undefined;
  const name = h.startsWith('*.') ? h.slice(2) : h;
  if (/^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/.test(name)) return undefined;
  if (/^\[[0-9a-fA-F:.]+\]$/.test(name) && !h.startsWith('*.')) return undefined;
  return '"*", an exact host name ("api.example.com") or a wildcard ("*.example.com"), without a port';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLoopbackHost(h: string): boolean {
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function toJsonPath(pointer: string): string {
  if (!pointer) return '$';
  let out = '$';
  for (const seg of pointer.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(s) ? `[${s}]` : /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
  }
  return out;
}

const SECRET_KEYS = /token|password|secret|passphrase/i;

function show(path: string, v: unknown): string {
  if (v === undefined) return 'nothing';
  if (SECRET_KEYS.test(path) && v !== null) return '(secret, not shown)';
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

function describeExpected(message: string, schema: { description?: string; anyOf?: unknown[]; [k: string]: unknown }): string {
  if (message === 'Unexpected property') return 'no such key (unknown key; check the spelling against config.schema.json)';
  if (message.startsWith('Expected required property')) return 'this required key to be present';
  if (Array.isArray(schema.anyOf)) {
    const opts = (schema.anyOf as { const?: unknown; type?: string; minimum?: number; maximum?: number }[]).map((o) =>
      o.const !== undefined ? JSON.stringify(o.const) : o.type === 'integer' ? `an integer ${o.minimum ?? ''}-${o.maximum ?? ''}` : (o.type ?? 'value'),
    );
    return `one of ${opts.join(', ')}`;
  }
  return message.replace(/^Expected /, '').replace(/^string to match '(.*)'$/, 'a string matching $1');
}
