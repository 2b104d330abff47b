/**
 * The client side of the admin listener for `fulcrum reload` and `fulcrum health`: where the
 * admin listener is (from the config file, read leniently: a reload is exactly when the file may
 * be invalid) and one HTTP call with a deadline. node:http, not fetch: no keep-alive agent left
 * holding the process open, and a plain error code when nothing listens.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

export interface AdminTarget {
  /** e.g. http://127.0.0.1:9090 */
  url: string;
  token: string | null;
}

export interface AdminAnswer {
  /** 0 when no answer came */
  status: number;
  text: string;
  json: unknown;
  /** why no answer came (ECONNREFUSED, timeout) */
  error: string;
}

/**
 * adminTarget finds the admin listener: --admin when given, else admin.host/admin.port of the
 * config (defaults 127.0.0.1:9090; a wildcard host is reached on loopback). The token is
 * admin.token or FULCRUM_ADMIN_TOKEN.
 */
export function adminTarget(file: string, admin: string | undefined): AdminTarget {
  let cfg: { admin?: { host?: unknown; port?: unknown; token?: unknown } } = {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null) cfg = parsed as typeof cfg;
  } catch {
    // unreadable or invalid: the defaults (and --admin) still reach a fulcrum on them
  }
  const a = typeof cfg.admin === 'object' && cfg.admin !== null ? cfg.admin : {};
  let host = typeof a.host === 'string' ? a.host : '127.0.0.1';
  if (host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '::1';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const port = typeof a.port === 'number' ? a.port : 9090;
  const token = process.env.FULCRUM_ADMIN_TOKEN || (typeof a.token === 'string' ? a.token : null);
  return { url: (admin ?? `http://${host}:${port}`).replace(/\/+$/, ''), token };
}

/** adminCall sends one request and resolves with the answer (never rejects). */
export function adminCall(target: AdminTarget, method: string, path: string, timeoutMs: number): Promise<AdminAnswer> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(target.url + path);
    } catch {
      resolve({ status: 0, text: '', json: undefined, error: `not a URL: ${JSON.stringify(target.url)}` });
      return;
    }
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: {
          ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
          // the admin API refuses a state-changing request that does not say JSON (admin-guard.ts)
          ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
          'content-length': '0',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json, error: '' });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ status: 0, text: '', json: undefined, error: `${err.code ?? err.message} at ${url.origin}; is fulcrum running with this admin listener?` }),
    );
    req.end();
  });
}
