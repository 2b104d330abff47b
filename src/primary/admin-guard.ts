/**
 * The admin listener's defences against web pages (README "Admin API: what it refuses"). The admin
 * API listens on loopback without a token by default, so the browser of the operator's own
 * machine can reach it: a page on any site could send it a "simple" cross-site POST (no CORS
 * preflight for text/plain or form bodies), and DNS rebinding (a name of the attacker's resolving
 * to 127.0.0.1) makes the admin API same-origin with that page for reads too. So:
 *
 * - Host: a request must name the admin listener itself (the address it was reached on, any
 *   loopback address or "localhost" when that is loopback, or a name in admin.hosts); a rebound
 *   name is refused (403). The port is not compared: SSH tunnels forward under another port.
 * - Origin: a state-changing request from a browser (which always sends Origin on it) must come
 *   from the admin's own origin (403 otherwise).
 * - Content-Type: a state-changing request must say application/json (415 otherwise), which a
 *   page can only send cross-site after a CORS preflight that fulcrum never grants.
 * - The token as `?token=` only where a browser cannot send a header (the dashboard's page and
 *   event stream); elsewhere only `Authorization: Bearer`, the scheme case-insensitive (RFC 9110 11.1).
 */
import { isIP } from 'node:net';

/** hostAllowed says whether a Host header value names this admin listener (see the file comment). */
export function hostAllowed(host: string | undefined, localAddress: string | undefined, names: ReadonlySet<string>): boolean {
  if (!host) return false;
  const name = unmapped(hostName(host));
  if (name === '') return false;
  if (names.has(name)) return true;
  const local = unmapped(localAddress ?? '');
  if (isIP(name) !== 0) return name === local || (isLoopback(local) && isLoopback(name));
  return name === 'localhost' && isLoopback(local);
}

/** hostName returns the host of a Host header value: lower-case, without port, brackets or a trailing dot. */
export function hostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? '' : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * sameOrigin says whether a request's Origin is the admin's own: absent (not a browser, or a
 * same-origin GET), or naming the same host and port as the Host header. The scheme is not
 * compared, so that an HTTPS proxy in front of the admin listener keeps the dashboard working.
 */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  const sep = origin.indexOf('://');
  if (sep === -1 || !host) return false; // includes "null" (sandboxed frames, file: pages)
  return origin.slice(sep + 3).toLowerCase() === host.trim().toLowerCase();
}

/** isJson says whether a Content-Type value is application/json (parameters such as charset allowed). */
export function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

/** bearerToken returns the token of an `Authorization: Bearer <token>` value (scheme in any case), or null. */
export function bearerToken(authorization: string | undefined): string | null {
  const m = /^bearer +(\S+) *$/i.exec(authorization ?? '');
  return m ? m[1]! : null;
}

/** isStateChanging: every method but the safe ones (RFC 9110 9.2.1) may change state. */
export function isStateChanging(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/** unmapped turns an IPv4-mapped IPv6 address (a dual-stack listener's view of IPv4) into IPv4. */
function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}
