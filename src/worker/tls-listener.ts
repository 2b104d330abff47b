/**
 * The HTTPS listener: a uWS SSLApp with the default certificate, one server name per SNI entry
 * (uWS keeps a router per server name, so the handler is attached to each), and the HTTP -> HTTPS
 * redirect. uWS 20.30 refuses TLS 1.0 and 1.1 by itself.
 */
import type { Config } from '../config/schema.js';
import type { HttpRequest, HttpResponse, ListenSocket, Uws } from '../uws.js';
import { respondEdge } from './guard/edge-response.js';
import { validHost } from './request-head.js';
import { checkCertPair } from '../net/cert-pair.js';

type TlsConfig = NonNullable<Config['tls']>;
type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** listenTls builds an SSLApp for `tls` and listens; returns the listen socket or why it failed. */
export function listenTls(uws: Uws, host: string, tls: TlsConfig, handler: Handler): ListenSocket | string {
  let listen: ListenSocket | false = false;
  // checked again here: the files may have changed since the primary read the config
  for (const p of [tls, ...tls.sni]) {
    const bad = checkCertPair(p.cert, p.key, p.passphrase);
    if (bad) return `cannot start the TLS listener: ${bad}`;
  }
  try {
    const app = uws.SSLApp({ cert_file_name: tls.cert, key_file_name: tls.key, ...(tls.passphrase ? { passphrase: tls.passphrase } : {}) });
    app.any('/*', handler);
    for (const s of tls.sni) {
      app.addServerName(s.hostname, { cert_file_name: s.cert, key_file_name: s.key, ...(s.passphrase ? { passphrase: s.passphrase } : {}) });
      app.domain(s.hostname).any('/*', handler);
    }
    app.listen(host, tls.port, (ls) => {
      listen = ls;
    });
  } catch (err) {
    return `cannot start the TLS listener: ${(err as Error).message} (check tls.cert, tls.key, tls.passphrase)`;
  }
  return listen || `cannot listen on ${host}:${tls.port} for TLS (address in use, not available here, not permitted, or an unreadable certificate/key)`;
}

/** redirectToHttps answers a plain-HTTP request with tls.redirectStatus to the same URL over HTTPS. */
export function redirectToHttps(res: HttpResponse, req: HttpRequest, tls: TlsConfig): void {
  const h = req.getHeader('host');
  if (!validHost(h)) return respondEdge(res, 400, true);
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0]!;
  const query = req.getQuery();
  const location = `https://${name}${tls.port === 443 ? '' : ':' + tls.port}${req.getUrl()}${query ? '?' + query : ''}`;
  const line = `${tls.redirectStatus} ${tls.redirectStatus === 301 ? 'Moved Permanently' : tls.redirectStatus === 302 ? 'Found' : tls.redirectStatus === 307 ? 'Temporary Redirect' : 'Permanent Redirect'}`;
  res.writeStatus(line).writeHeader('Location', location).writeHeader('Content-Type', 'text/plain; charset=utf-8').end(`${line}\n${location}\n`);
}
