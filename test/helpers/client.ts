/** A small HTTP client on node:http for tests: exact status, raw headers and body bytes. */
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders | [string, string][];
  body?: string | Buffer;
  agent?: http.Agent | false;
  timeoutMs?: number;
}

export function request(url: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = Array.isArray(o.headers) ? o.headers.flat() : o.headers;
    const req = http.request(url, { method: o.method ?? 'GET', headers: headers as http.OutgoingHttpHeaders, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('client timeout')));
    req.end(o.body);
  });
}

/** json parses an echo origin's reply body. */
export function echoed(r: Reply): {
  origin: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  bodyLength: number;
  body?: string;
} {
  return JSON.parse(r.text);
}

/**
 * adminCall calls the admin API as an operator's script does: `Content-Type: application/json`
 * (required on every state-changing admin request) and the body as JSON.
 */
export function adminCall(adminUrl: string, method: string, path: string, body?: unknown, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return request(`${adminUrl}${path}`, {
    method,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
}
