/**
 * readRequest maps an HTTP/2 request's header list (node:http2's raw list: [name, value, ...],
 * pseudo-header fields first) to what a ClientExchange carries: method, target, the fields as an
 * HTTP/1.1 server would have received them, and the body's length. RFC 9113 8.3 and 8.2.2:
 *
 * - :method is the method; :path the target (origin-form, or "*" for OPTIONS); :scheme must be
 *   present (its value is not trusted: `secure` comes from the connection). CONNECT (which has
 *   no :path) is refused with 405, as the HTTP/1.1 engine refuses it.
 * - Extended CONNECT (RFC 8441 4, 5), when http2.webSockets announced
 *   SETTINGS_ENABLE_CONNECT_PROTOCOL: `CONNECT` with `:protocol`, `:scheme`, `:path` and
 *   `:authority` is a tunnel request (`tunnel` set) when the protocol is "websocket", 501 for
 *   any other protocol. MALFORMED (a stream error PROTOCOL_ERROR, as nghttp2 answers): `:protocol`
 *   when the setting was not announced, on another method, or without `:scheme`, `:path` or
 *   `:authority`.
 * - :authority becomes the "host" field, first in the list (8.3.1). A Host field that disagrees
 *   with :authority is 400 (a request may not name two origins); a Host alone is kept; neither
 *   is 400, as HTTP/1.1 without Host (RFC 9112 3.2). Userinfo in :authority is 400.
 * - Several cookie fields (HPACK sends each crumb on its own) are joined with "; " into one
 *   (8.2.3), which is what an HTTP/1.1 server expects.
 * - Connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 *   Upgrade) make the request malformed (8.2.2); TE is allowed only as "trailers". Both
 *   implementations reset such a stream before it gets here (nghttp2, header-block.ts); the
 *   400 below is the last line.
 * - Content-Length gives the body length (several that differ, or a bad number: 400); without
 *   it the length is unknown unless the HEADERS frame ended the stream.
 * nghttp2 already refuses most of these with a stream error (its HTTP messaging checks: pseudo
 * fields after regular ones, uppercase names, repeated pseudo fields, a bad TE, CR/LF/NUL in
 * values); this function is what holds when a check of it is relaxed or missing.
 *
 * Limits as for HTTP/1.1: a target over maxUrlBytes is 414, more fields than maxHeaders 431, a
 * Content-Length over maxBodyBytes 413.
 */
import type { RequestLimits } from '../engine/http1-parser.js';
import { BODY_NONE, BODY_UNKNOWN } from '../engine/exchange.js';

/** What readRequest fills in (the exchange itself: no object per request besides the field list). */
export interface RequestOut {
  method: string;
  target: string;
  fields: string[];
  bodyLength: number;
  /** an extended CONNECT for a WebSocket (RFC 8441) */
  tunnel: boolean;
}

/** readRequest's answer for a malformed request: a stream error PROTOCOL_ERROR (RFC 9113 8.1.1), no response */
export const MALFORMED = -1;

/**
 * readRequest fills `out` from the raw header list; returns 0, the status of the answer that
 * refuses the request, or MALFORMED. `connectProtocol`: SETTINGS_ENABLE_CONNECT_PROTOCOL was announced.
 */
export function readRequest(raw: readonly string[], endStream: boolean, limits: RequestLimits, connectProtocol: boolean, out: RequestOut): number {
  let method = '';
  let path = '';
  let scheme = '';
  let protocol: string | null = null;
  let authority: string | null = null;
  let host: string | null = null;
  let cookie: string | null = null;
  let length = -1;
  let count = 0;
  const fields: string[] = ['host', ''];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (count > 0) return 400; // pseudo-header fields come first (8.3)
      switch (name) {
        case ':method':
          method = value;
          break;
        case ':path':
          path = value;
          break;
        case ':scheme':
          scheme = value;
          break;
        case ':authority':
          authority = value;
          break;
        case ':protocol':
          if (!connectProtocol) return MALFORMED; // RFC 8441 3: only once announced
          protocol = value;
          break;
        default:
          return 400; // :status, or unknown
      }
      continue;
    }
    count++;
    switch (name.length) {
      case 2:
        if (name === 'te' && value !== 'trailers') return 400;
        break;
      case 4:
        if (name === 'host') {
          if (host !== null && host !== value) return 400;
          host = value;
          continue;
        }
        break;
      case 6:
        if (name === 'cookie') {
          cookie = cookie === null ? value : cookie + '; ' + value;
          continue;
        }
        break;
      case 7:
        if (name === 'upgrade') return 400;
        break;
      case 10:
        if (name === 'connection' || name === 'keep-alive') return 400;
        break;
      case 14:
        if (name === 'content-length') {
          const n = contentLength(value);
          if (n < 0 || (length >= 0 && n !== length)) return 400;
          length = n;
        }
        break;
      case 16:
        if (name === 'proxy-connection') return 400;
        break;
      case 17:
        if (name === 'transfer-encoding') return 400;
        break;
    }
    fields.push(name, value);
  }
  if (method === '') return 400;
  if (protocol !== null) {
    // RFC 8441 4: CONNECT with the target's :scheme, :path and :authority
    if (method !== 'CONNECT' || scheme === '' || path === '' || authority === null) return MALFORMED;
    if (protocol.toLowerCase() !== 'websocket') return 501; // no other protocol is tunnelled
    out.tunnel = true;
  } else if (method === 'CONNECT') return 405;
  if (scheme === '' || path === '') return 400;
  if (path.charCodeAt(0) !== 0x2f /* / */ && !(path === '*' && method === 'OPTIONS')) return 400;
  if (authority !== null) {
    if (authority.indexOf('@') !== -1) return 400;
    if (host !== null && host.toLowerCase() !== authority.toLowerCase()) return 400;
  } else if (host === null) return 400;
  fields[1] = authority ?? host!;
  if (cookie !== null) fields.push('cookie', cookie);
  out.method = method;
  out.target = path;
  out.fields = fields;
  out.bodyLength = endStream ? BODY_NONE : length === -1 ? BODY_UNKNOWN : length;
  if (endStream && length > 0) return 400; // announced a body, sent none
  if (out.tunnel && (endStream || length !== -1)) return 400; // a tunnel's DATA are its bytes, not a body of some length
  if (path.length > limits.maxUrlBytes) return 414;
  if (count > limits.maxHeaders) return 431;
  if (length > limits.maxBodyBytes) return 413;
  return 0;
}

/** response fields HTTP/2 forbids (RFC 9113 8.2.2) or that its framing replaces: both implementations drop them from a response */
export const DROPPED_RESPONSE_FIELDS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
]);

const TEXTS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  501: 'Not Implemented',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

/** refusalText is the reason phrase of a status readRequest (or a body limit) refuses a request with. */
export function refusalText(status: number): string {
  return TEXTS[status] ?? 'Error';
}

/**
 * validField checks a decoded request field as RFC 9113 8.2.1 requires of HTTP/2 (nghttp2 does it
 * for node:http2; fulcrum's own frame layer calls this): a name of lowercase token characters (or
 * a pseudo-header name), a value without NUL, CR or LF and without leading or trailing SP / HTAB.
 * A field that fails makes the request malformed (a stream error PROTOCOL_ERROR).
 */
export function validField(name: string, value: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  for (let i = name.charCodeAt(0) === 0x3a ? 1 : 0; i < n; i++) if (TOKEN_LOWER[name.charCodeAt(i)] !== 1) return false;
  const m = value.length;
  if (m === 0) return true;
  let c = value.charCodeAt(0);
  if (c === 0x20 || c === 0x09) return false;
  c = value.charCodeAt(m - 1);
  if (c === 0x20 || c === 0x09) return false;
  for (let i = 0; i < m; i++) {
    c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

/** 1 for the tchar octets of RFC 9110 5.6.2 except uppercase letters */
const TOKEN_LOWER = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TOKEN_LOWER[c.charCodeAt(0)] = 1;

/** contentLength parses a Content-Length value (digits only, RFC 9110 8.6); -1 when invalid. */
function contentLength(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
