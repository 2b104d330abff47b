/**
 * Building the request head sent upstream (RFC 9110 7.6, RFC 9112 3 and 6). The head is
 * re-serialised from the fields the engine parsed (ClientExchange.fields), never copied from the
 * client's bytes, so the server sees only the request fulcrum understood. One loop over the
 * fields; the only allocation is the head string itself.
 *
 * Removed: hop-by-hop fields (Connection and every field it names, Keep-Alive, Proxy-Connection,
 * Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) and Expect (the engine answers
 * 100-continue itself). Replaced: Via (appended), Host (by the upstream's hostHeader), and the
 * body framing (Content-Length as received, or chunked re-encoded by fulcrum).
 *
 * What the server may trust about the client (README "Forwarding headers"): the forwarding fields,
 * X-Forwarded-* (every one of them, not only -For/-Proto/-Host), Forwarded (RFC 7239) and
 * X-Real-IP, reach it from a client only when that client is a trusted proxy (trustedProxies);
 * from anyone else they are removed. The ones the upstream's forwardedHeader and realIpHeader
 * select are fulcrum's own: set from the connection, and, from a trusted proxy, extended
 * (X-Forwarded-For and Forwarded get fulcrum's element appended, as nginx's
 * $proxy_add_x_forwarded_for and RFC 7239 section 4 do) or kept (X-Forwarded-Proto/-Host,
 * X-Real-IP). The others are relayed as the trusted proxy sent them.
 */
export const enum BodyMode {
  None = 0,
  Length = 1,
  Chunked = 2,
}

/** Changes to the forwarded head: fields left out and added (the cache's fill drops conditionals, adds validators). */
export interface HeadEdit {
  readonly drop: readonly string[] | null;
  readonly extra: readonly string[] | null;
}

/** What buildHead learned about the request besides the head itself. */
export interface HeadInfo {
  head: string;
  bodyMode: BodyMode;
  contentLength: number;
  /** why the request cannot be forwarded safely, or null */
  reject: string | null;
  /** the failure for `reject`: invalid-head (400: malformed, ambiguous framing), too-many-fields (431) */
  rejectKind: 'invalid-head' | 'too-many-fields';
}

/** Which forwarding fields fulcrum sets (upstreams.<name>.forwardedHeader). */
type ForwardedMode = 'x-forwarded' | 'forwarded' | 'both';

export interface HeadOptions {
  method: string;
  /** path and query exactly as received */
  target: string;
  clientIp: string;
  /** the client is a trusted proxy: its forwarding fields are kept (see the file comment) */
  trusted: boolean;
  /** X-Forwarded-For/-Proto/-Host, Forwarded (RFC 7239), or both */
  forwarded: ForwardedMode;
  /** set X-Real-IP to the client address */
  realIp: boolean;
  /** "client" | "server" | literal */
  hostHeader: string;
  /** the server's host:port, for hostHeader "server" */
  serverHostPort: string;
  proto: 'http' | 'https';
  /** limits.maxHeaders and limits.maxHeaderBytes */
  maxHeaders: number;
  maxHeaderBytes: number;
  /** request fields left out (lowercase names; the cache drops the client's conditionals), or null */
  drop: readonly string[] | null;
  /** fields added after the client's: [name, value, ...] (the cache's validators), or null */
  extra: readonly string[] | null;
}

// Scratch state: one request is built at a time, synchronously.
let acc = '';
let dropNames: string[] | null = null;
let xff = '';
let xfProto = '';
let xfHost = '';
let fwd = '';
let realIp = '';
/** X-Forwarded-* other than -For/-Proto/-Host are dropped (the client is not a trusted proxy) */
let dropXf = false;
/** the client's X-Forwarded-For/-Proto/-Host, Forwarded, X-Real-IP are relayed as received (a trusted proxy's, in a family fulcrum does not set) */
let keepXf = false;
let keepFwd = false;
let keepRealIp = false;
let via = '';
let host = '';
let cl = '';
let te = '';
let clCount = 0;
let hostCount = 0;
let fieldCount = 0;
let fieldBytes = 0;
let badValue = false;

function visit(k: string, v: string): void {
  fieldCount++;
  fieldBytes += k.length + v.length + 4;
  // engines refuse NUL, CR, LF and other controls in values; uWS lets DEL through
  if (v.indexOf('\x7f') !== -1) badValue = true;
  switch (k.length) {
    case 2:
      if (k === 'te') return;
      break;
    case 3:
      if (k === 'via') {
        via = via ? via + ', ' + v : v;
        return;
      }
      break;
    case 4:
      if (k === 'host') {
        host = v;
        hostCount++;
        return;
      }
      break;
    case 6:
      if (k === 'expect') return;
      break;
    case 7:
      if (k === 'upgrade' || k === 'trailer') return;
      break;
    case 9:
      if (k === 'forwarded') {
        if (keepFwd) break;
        fwd = fwd ? fwd + ', ' + v : v;
        return;
      }
      if (k === 'x-real-ip') {
        if (keepRealIp) break;
        if (!realIp) realIp = v;
        return;
      }
      break;
    case 10:
      if (k === 'connection' || k === 'keep-alive') return;
      break;
    case 14:
      if (k === 'content-length') {
        cl = v;
        clCount++;
        return;
      }
      break;
    case 15:
      if (k === 'x-forwarded-for') {
        // kept even when relayed as received: X-Real-IP may take its last element
        xff = xff ? xff + ', ' + v : v;
        if (keepXf) break;
        return;
      }
      break;
    case 16:
      if (k === 'proxy-connection') return;
      if (k === 'x-forwarded-host') {
        if (keepXf) break;
        if (!xfHost) xfHost = v;
        return;
      }
      break;
    case 17:
      if (k === 'transfer-encoding') {
        te = te ? te + ', ' + v : v;
        return;
      }
      if (k === 'x-forwarded-proto') {
        if (keepXf) break;
        if (!xfProto) xfProto = v;
        return;
      }
      break;
    case 19:
      if (k === 'proxy-authorization') return;
      break;
  }
  // X-Forwarded-Port, -Prefix, -Ssl...: frameworks read them as the client's scheme, port and path
  if (dropXf && k.length > 12 && k.charCodeAt(0) === 120 /* x */ && k.startsWith('x-forwarded-')) return;
  if (dropNames?.includes(k)) return;
  acc += k + ': ' + v + '\r\n';
}

/** The request side of buildHeadFor (a ClientExchange is one). */
interface HeadRequest {
  readonly fields: readonly string[];
  readonly peer: { readonly ip: string; readonly trusted: boolean };
  readonly secure: boolean;
}

/** The upstream side of buildHeadFor (an Upstream is one). */
interface HeadUpstream {
  readonly spec: { readonly forwardedHeader: ForwardedMode; readonly realIpHeader: boolean };
  readonly hostHeader: string;
}

/** one HeadOptions, refilled per call (buildHead runs synchronously): no object per request */
const scratch: HeadOptions = {
  method: '',
  target: '',
  clientIp: '',
  trusted: false,
  forwarded: 'x-forwarded',
  realIp: false,
  hostHeader: '',
  serverHostPort: '',
  proto: 'http',
  maxHeaders: 0,
  maxHeaderBytes: 0,
  drop: null,
  extra: null,
};

/**
 * buildHeadFor builds the head of `req` (with this method and target) for a server of `upstream`
 * ("host:port", or "" when none was picked): the one place HeadOptions are filled, for every
 * caller (the proxy, the WebSocket tunnel and relay, `fulcrum explain`), so they cannot drift.
 */
export function buildHeadFor(
  req: HeadRequest,
  method: string,
  target: string,
  upstream: HeadUpstream,
  serverHostPort: string,
  limits: { readonly maxHeaders: number; readonly maxHeaderBytes: number },
  edit: HeadEdit | null,
  out: HeadInfo,
): void {
  const o = scratch;
  o.method = method;
  o.target = target;
  o.clientIp = req.peer.ip;
  o.trusted = req.peer.trusted;
  o.forwarded = upstream.spec.forwardedHeader;
  o.realIp = upstream.spec.realIpHeader;
  o.hostHeader = upstream.hostHeader;
  o.serverHostPort = serverHostPort;
  o.proto = req.secure ? 'https' : 'http';
  o.maxHeaders = limits.maxHeaders;
  o.maxHeaderBytes = limits.maxHeaderBytes;
  o.drop = edit?.drop ?? null;
  o.extra = edit?.extra ?? null;
  buildHead(req.fields, o, out);
}

/**
 * buildHead builds the upstream head from the request's fields ([name, value, ...], names
 * lowercase, as ClientExchange.fields) into `out`.
 */
export function buildHead(fields: readonly string[], o: HeadOptions, out: HeadInfo): void {
  let connection = '';
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if (k.length === 10 && k === 'connection') connection = connection ? connection + ', ' + fields[i + 1]! : fields[i + 1]!;
  }
  dropNames = connection && !isPlainConnection(connection) ? connectionTokens(connection) : null;
  const trusted = o.trusted;
  const setXf = o.forwarded !== 'forwarded';
  const setFwd = o.forwarded !== 'x-forwarded';
  dropXf = !trusted;
  keepXf = trusted && !setXf;
  keepFwd = trusted && !setFwd;
  keepRealIp = trusted && !o.realIp;
  acc = xff = xfProto = xfHost = fwd = realIp = via = host = cl = te = '';
  clCount = hostCount = fieldCount = fieldBytes = 0;
  badValue = false;
  const drop = o.drop;
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if (drop === null || !drop.includes(k)) visit(k, fields[i + 1]!);
  }
  const extra = o.extra;
  if (extra !== null) for (let i = 0; i < extra.length; i += 2) visit(extra[i]!, extra[i + 1]!);

  out.reject = null;
  out.rejectKind = 'invalid-head';
  out.contentLength = -1;
  if (fieldCount > o.maxHeaders || fieldBytes > o.maxHeaderBytes) {
    out.reject = fieldCount > o.maxHeaders ? 'too many header fields' : 'header fields too large';
    out.rejectKind = 'too-many-fields';
  } else if (hostCount !== 1 || !validHost(host)) {
    out.reject = hostCount > 1 ? 'more than one Host' : 'missing or invalid Host';
  } else if (badValue) {
    out.reject = 'control character in a header value';
  }
  if (te) {
    // the engine de-chunks "chunked" bodies; anything else we cannot frame for the server
    if ((te.toLowerCase() !== 'chunked' || clCount > 0) && out.reject === null) out.reject = 'unsupported Transfer-Encoding';
    out.bodyMode = BodyMode.Chunked;
  } else if (clCount > 0) {
    const n = clCount === 1 && /^\d{1,15}$/.test(cl) ? Number(cl) : -1;
    if (n < 0 && out.reject === null) out.reject = 'invalid Content-Length';
    out.contentLength = n;
    out.bodyMode = n > 0 ? BodyMode.Length : BodyMode.None;
  } else {
    out.bodyMode = BodyMode.None;
  }

  let h = o.hostHeader === 'client' ? host : o.hostHeader === 'server' ? o.serverHostPort : o.hostHeader;
  if (!h) h = o.serverHostPort;
  let tail = '';
  if (!setXf) {
    // relayed in place from a trusted proxy (keepXf), dropped from anyone else
  } else if (trusted) {
    tail += 'x-forwarded-for: ' + (xff ? xff + ', ' + o.clientIp : o.clientIp) + '\r\n';
    tail += 'x-forwarded-proto: ' + (xfProto || o.proto) + '\r\n';
    const fh = xfHost || host;
    if (fh) tail += 'x-forwarded-host: ' + fh + '\r\n';
  } else {
    tail += 'x-forwarded-for: ' + o.clientIp + '\r\nx-forwarded-proto: ' + o.proto + '\r\n';
    if (host) tail += 'x-forwarded-host: ' + host + '\r\n';
  }
  if (setFwd) {
    const el = forwardedElement(o.clientIp, host, o.proto);
    tail += 'forwarded: ' + (trusted && fwd ? fwd + ', ' + el : el) + '\r\n';
  }
  if (o.realIp) tail += 'x-real-ip: ' + (trusted ? realIp || lastElement(xff) || o.clientIp : o.clientIp) + '\r\n';
  tail += via ? 'via: ' + via + ', 1.1 fulcrum\r\n' : 'via: 1.1 fulcrum\r\n';
  if (out.bodyMode === BodyMode.Chunked) tail += 'transfer-encoding: chunked\r\n';
  else if (out.contentLength >= 0) tail += 'content-length: ' + out.contentLength + '\r\n';
  // Host goes first, as clients send it; the other fields keep the client's order
  out.head = o.method + ' ' + o.target + ' HTTP/1.1\r\nhost: ' + h + '\r\n' + acc + tail + '\r\n';
  acc = '';
  dropNames = null;
}

/**
 * moveHost rewrites the Host of a built head when it was the server's own host:port (hostHeader
 * "server", or a client that sent no Host) and the request moves to another server (a retry, a
 * queued request's turn). A client Host that happens to equal the old server's host:port is
 * rewritten too (harmless: it named the backend). Off the hot path.
 */
export function moveHost(head: string, hostHeader: string, from: string, to: string): string {
  if (hostHeader !== 'server' && hostHeader !== 'client') return head;
  const at = head.indexOf('\r\nhost: ');
  const line = '\r\nhost: ' + from + '\r\n';
  if (at === -1 || !head.startsWith(line, at)) return head;
  return head.slice(0, at) + '\r\nhost: ' + to + '\r\n' + head.slice(at + line.length);
}

let lastGoodHost = '';
// reg-name or IPv4 (RFC 3986 unreserved / pct-encoded / sub-delims) or an IP-literal, then an optional port
const HOST_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;

/** validHost checks a Host value's syntax (the last valid one is remembered: clients repeat it). */
export function validHost(h: string): boolean {
  if (h === lastGoodHost) return true;
  if (!HOST_RE.test(h)) return false;
  lastGoodHost = h;
  return true;
}

// an RFC 7239 token (RFC 9110 5.6.2 tchar): anything else goes in a quoted-string
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
let lastHost = '';
let lastHostParam = '';

/**
 * forwardedElement is fulcrum's element of a Forwarded field (RFC 7239 4, 5): the client's
 * address (an IPv6 address in brackets, quoted: `for="[2001:db8::1]"`, section 6), the Host it
 * asked for (quoted when it has a port or other non-token characters), and the protocol.
 */
function forwardedElement(clientIp: string, host: string, proto: string): string {
  let el = clientIp.indexOf(':') === -1 ? 'for=' + clientIp : 'for="[' + clientIp + ']"';
  if (host) {
    // a Host that passed validHost has no quote or backslash to escape; clients repeat it: the last is kept
    if (host !== lastHost) {
      lastHost = host;
      lastHostParam = TOKEN_RE.test(host) ? host : '"' + host + '"';
    }
    el += ';host=' + lastHostParam;
  }
  return el + ';proto=' + proto;
}

/** lastElement returns the last element of a comma-separated list, trimmed ("" for none). */
function lastElement(list: string): string {
  if (!list) return '';
  return list.slice(list.lastIndexOf(',') + 1).trim();
}

function isPlainConnection(v: string): boolean {
  const l = v.length;
  return (l === 10 && v.toLowerCase() === 'keep-alive') || (l === 5 && v.toLowerCase() === 'close');
}

function connectionTokens(v: string): string[] {
  const out: string[] = [];
  for (const t of v.split(',')) {
    const n = t.trim().toLowerCase();
    if (n) out.push(n);
  }
  return out;
}
