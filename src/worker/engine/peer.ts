/**
 * The client's address, read once per connection (exchange.ts, ClientPeer): the text node:net
 * gives ("203.0.113.7", "2001:db8::1", "::ffff:203.0.113.7") turned into the 4 or 16 bytes the CIDR
 * matchers take, an IPv4-mapped IPv6 address shown and matched as IPv4 (as src/net/cidr.ts).
 */
import ipaddr from 'ipaddr.js';
import type { ClientPeer } from './exchange.js';

const NO_ADDRESS = new Uint8Array(0);

/** clientPeer builds the peer of a connection from socket.remoteAddress (undefined: the socket is already gone). */
export function clientPeer(address: string | undefined): ClientPeer {
  if (address === undefined) return { bytes: NO_ADDRESS, ip: '', gen: -1, trusted: false, allowed: false, busy: 0 };
  let text = address;
  if (text.length > 7 && text.charCodeAt(0) === 0x3a && text.startsWith('::ffff:') && text.indexOf('.') !== -1) text = text.slice(7);
  const v4 = ipv4Bytes(text);
  if (v4 !== null) return { bytes: v4, ip: text, gen: -1, trusted: false, allowed: false, busy: 0 };
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray());
  } catch {
    bytes = NO_ADDRESS;
  }
  return { bytes, ip: text, gen: -1, trusted: false, allowed: false, busy: 0 };
}

/** ipv4Bytes parses dotted-quad text; null when it is not one. */
function ipv4Bytes(s: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let part = 0;
  let n = -1;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c >= 0x30 && c <= 0x39) {
      n = n === -1 ? c - 0x30 : n * 10 + (c - 0x30);
      if (n > 255) return null;
    } else if (c === 0x2e) {
      if (n === -1 || part > 3) return null;
      out[part++] = n;
      n = -1;
    } else return null;
  }
  return part === 4 ? out : null;
}
