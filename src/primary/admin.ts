/**
 * AdminServer is the admin listener of the primary (admin.host:admin.port, loopback by default).
 * It is not on the request path, so it uses node:http. When admin.token is set every endpoint
 * requires `Authorization: Bearer <token>` (compared in constant time; never logged). Every
 * request first passes the checks of admin-guard.ts, in this order: Host (403), Origin of a
 * state-changing request (403), token (401), route (404, 405), Content-Type of a state-changing
 * request (415).
 *
 * Features register routes: `admin.route('GET', '/upstreams/{name}/servers', handler)`.
 */
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { log } from '../log.js';
import { bearerToken, hostAllowed, isJson, isStateChanging, sameOrigin } from './admin-guard.js';

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  /** the request body parsed as JSON (undefined when empty); a 400 is sent for invalid JSON */
  body: unknown;
  raw: http.IncomingMessage;
}

export interface AdminReply {
  status?: number;
  /** serialised as JSON unless it is a string or Buffer */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A handler returns a reply, or takes over the raw response itself (SSE) and returns undefined. */
export type AdminHandler = (req: AdminRequest, res: http.ServerResponse) => AdminReply | undefined | Promise<AdminReply | undefined>;

interface Route {
  method: string;
  parts: string[];
  handler: AdminHandler;
  /** the token is accepted as `?token=` too (see acceptQueryToken) */
  queryToken: boolean;
}

/** the admin section of the config, as far as the listener uses it */
export interface AdminSettings {
  host: string;
  port: number;
  token: string | null;
  hosts: string[];
}

const MAX_BODY_BYTES = 1024 * 1024;

export class AdminServer {
  private readonly routes: Route[] = [];
  private server: http.Server | null = null;
  private token: Buffer | null = null;
  private names = new Set<string>();
  private readonly host: string;
  private readonly port: number;

  constructor(settings: AdminSettings) {
    this.host = settings.host;
    this.port = settings.port;
    this.configure(settings);
  }

  /** configure applies the token and the extra host names (at start and on reload; the address needs a restart). */
  configure(settings: Pick<AdminSettings, 'token' | 'hosts'>): void {
    this.token = settings.token ? Buffer.from(settings.token) : null;
    this.names = new Set(settings.hosts.map((h) => h.toLowerCase().replace(/\.$/, '')));
  }

  /** route registers a handler; `{name}` segments become params. */
  route(method: string, pattern: string, handler: AdminHandler): void {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler, queryToken: false });
  }

  /**
   * acceptQueryToken lets a registered GET route take the token as `?token=` too: only for what a
   * browser loads without being able to send a header (the dashboard's page and its
   * EventSource), never for a state-changing endpoint.
   */
  acceptQueryToken(method: 'GET', pattern: string): void {
    const parts = pattern.split('/').filter(Boolean).join('/');
    for (const r of this.routes) if (r.method === method && r.parts.join('/') === parts) r.queryToken = true;
  }

  get address(): string {
    const a = this.server?.address() as AddressInfo | null;
    return a ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : '';
  }

  listen(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot listen on admin ${this.host}:${this.port} (${err.code ?? err.message}); set admin.port to a free port`)),
      );
      server.listen(this.port, this.host, () => resolve());
    });
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  /** authorized checks the token: the bearer header, or `?token=` where the route allows it (acceptQueryToken). */
  private authorized(req: http.IncomingMessage, query: URLSearchParams, queryToken: boolean): boolean {
    if (!this.token) return true;
    const given = bearerToken(req.headers.authorization) ?? (queryToken && req.method === 'GET' ? query.get('token') : null);
    return given !== null && this.tokenMatches(given);
  }

  private tokenMatches(t: string): boolean {
    const given = Buffer.from(t);
    return this.token !== null && given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = req.headers.host;
    if (!hostAllowed(host, req.socket.localAddress, this.names)) {
      send(res, {
        status: 403,
        body: { error: `forbidden: Host ${JSON.stringify(host ?? '')} is not this admin listener; add the name to admin.hosts if you reach it by that name` },
      });
      return;
    }
    const changing = isStateChanging(req.method);
    if (changing && !sameOrigin(req.headers.origin, host)) {
      send(res, { status: 403, body: { error: 'forbidden: a state-changing request from another origin (a web page elsewhere)' } });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const parts = url.pathname.split('/').filter(Boolean).map(safeDecode);
    let found: { route: Route; params: Record<string, string> } | null = null;
    const allowed = new Set<string>();
    for (const r of this.routes) {
      const params = match(r.parts, parts);
      if (!params) continue;
      if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) {
        allowed.add(r.method);
        continue;
      }
      found ??= { route: r, params };
    }
    if (!this.authorized(req, url.searchParams, found?.route.queryToken === true)) {
      send(res, { status: 401, body: { error: 'unauthorized: send Authorization: Bearer <admin.token>' }, headers: { 'www-authenticate': 'Bearer' } });
      return;
    }
    if (!found) {
      if (allowed.size) send(res, { status: 405, body: { error: 'method not allowed' }, headers: { allow: [...allowed].join(', ') } });
      else send(res, { status: 404, body: { error: 'not found' } });
      return;
    }
    if (changing && !isJson(req.headers['content-type'])) {
      send(res, {
        status: 415,
        body: { error: 'unsupported media type: send Content-Type: application/json (required on every state-changing admin request)' },
      });
      return;
    }
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (err) {
      send(res, { status: 400, body: { error: (err as Error).message } });
      return;
    }
    try {
      const reply = await found.route.handler(
        { method: req.method!, path: url.pathname, query: url.searchParams, params: found.params, headers: req.headers, body, raw: req },
        res,
      );
      if (reply) send(res, reply);
    } catch (err) {
      log.error('admin handler failed', { path: url.pathname, error: (err as Error).message });
      if (!res.headersSent) send(res, { status: 500, body: { error: 'internal error' } });
    }
  }
}

function match(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith('{') && p.endsWith('}')) params[p.slice(1, -1)] = parts[i]!;
    else if (p !== parts[i]) return null;
  }
  return params;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (n === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

export function send(res: http.ServerResponse, r: AdminReply): void {
  const body = r.body === undefined ? '' : typeof r.body === 'string' || Buffer.isBuffer(r.body) ? r.body : JSON.stringify(r.body, null, 2) + '\n';
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...r.headers };
  if (!headers['content-type'] && r.body !== undefined && typeof r.body !== 'string' && !Buffer.isBuffer(r.body)) headers['content-type'] = 'application/json';
  res.writeHead(r.status ?? 200, headers);
  res.end(body);
}
