/**
 * Headers of a proxied WebSocket handshake, both ways.
 *
 * Upstream: the request head is built by buildHead (proxy/head.ts), exactly as for HTTP
 * (hop-by-hop fields removed, X-Forwarded-* and Via set, Host by the upstream's hostHeader,
 * cookies and Authorization kept), then turned into the header object the `ws` client sends. The
 * handshake fields of the client (key, version, extensions, subprotocols) are not copied: the
 * upstream handshake is fulcrum's own, and the subprotocols are offered through the client.
 *
 * Downstream: headers of the server's answer (101 or a refusal) that are end-to-end reach the
 * client (Set-Cookie, WWW-Authenticate, Location, ...); framing, hop-by-hop and handshake fields
 * are written by uWS itself.
 */

/** fields of the client's head not sent upstream (the `ws` client writes its own) */
const NOT_UPSTREAM = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
  'transfer-encoding',
]);

/** fields of the server's answer not relayed to the client */
const NOT_DOWNSTREAM = new Set([
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'content-length',
  'date',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-version',
]);

export type HeaderObject = Record<string, string | string[]>;

/** upstreamHeaders turns a head built by buildHead into the `ws` client's header object. */
export function upstreamHeaders(head: string): HeaderObject {
  const out: HeaderObject = {};
  let i = head.indexOf('\r\n') + 2;
  const end = head.length - 2; // the empty line
  while (i < end) {
    let e = head.indexOf('\r\n', i);
    if (e === -1) e = end;
    const c = head.indexOf(':', i);
    if (c !== -1 && c < e) {
      const name = head.slice(i, c);
      if (!NOT_UPSTREAM.has(name)) {
        const value = head.slice(c + 2, e);
        const prev = out[name];
        if (prev === undefined) out[name] = value;
        else if (Array.isArray(prev)) prev.push(value);
        else out[name] = [prev, value];
      }
    }
    i = e + 2;
  }
  return out;
}

/** downstreamHeaders picks the fields of a server's raw headers to relay, as name, value pairs. */
export function downstreamHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!NOT_DOWNSTREAM.has(name.toLowerCase())) out.push(name, raw[i + 1]!);
  }
  return out;
}

/** subprotocols splits a Sec-WebSocket-Protocol value into its offers. */
export function subprotocols(v: string): string[] {
  if (!v) return [];
  const out: string[] = [];
  for (const t of v.split(',')) {
    const p = t.trim();
    if (p) out.push(p);
  }
  return out;
}
