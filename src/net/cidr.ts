/**
 * CIDR parsing (ipaddr.js, at config load) and matching (plain integer compares, per request).
 * Addresses are matched in their binary form as uWS hands them out: 4 bytes for IPv4, 16 for
 * IPv6; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 ranges.
 */
import ipaddr from 'ipaddr.js';

export interface Cidr {
  v4: boolean;
  /** network address as 32-bit words (1 for IPv4, 4 for IPv6) */
  words: Uint32Array;
  prefix: number;
}

/** parseCidr parses "10.0.0.0/8", "::1", "192.168.1.7"; returns undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  try {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    let prefix: number;
    if (text.includes('/')) {
      [addr, prefix] = ipaddr.parseCIDR(text);
    } else {
      addr = ipaddr.parse(text);
      prefix = addr.kind() === 'ipv4' ? 32 : 128;
    }
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
      addr = (addr as ipaddr.IPv6).toIPv4Address();
      prefix -= 96;
    }
    const bytes = Uint8Array.from(addr.toByteArray());
    const words = toWords(bytes);
    // normalise the network address (clear host bits)
    maskWords(words, prefix);
    return { v4: addr.kind() === 'ipv4', words, prefix };
  } catch {
    return undefined;
  }
}

function toWords(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < w.length; i++) {
    w[i] = ((bytes[i * 4]! << 24) | (bytes[i * 4 + 1]! << 16) | (bytes[i * 4 + 2]! << 8) | bytes[i * 4 + 3]!) >>> 0;
  }
  return w;
}

function maskWords(w: Uint32Array, prefix: number): void {
  for (let i = 0; i < w.length; i++) {
    const bits = Math.max(0, Math.min(32, prefix - i * 32));
    const mask = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    w[i] = (w[i]! & mask) >>> 0;
  }
}

/** CidrSet answers "is this address in any of these ranges?" without allocating. */
export class CidrSet {
  readonly size: number;
  private readonly v4: Cidr[];
  private readonly v6: Cidr[];
  private readonly scratch = new Uint32Array(4);

  constructor(cidrs: Cidr[]) {
    this.v4 = cidrs.filter((c) => c.v4);
    this.v6 = cidrs.filter((c) => !c.v4);
    this.size = cidrs.length;
  }

  static fromStrings(list: readonly string[]): CidrSet {
    return new CidrSet(list.map((s) => {
      const c = parseCidr(s);
      if (!c) throw new TypeError(`invalid CIDR ${JSON.stringify(s)}`);
      return c;
    }));
  }

  /** has reports whether the binary address (4 or 16 bytes) is in the set. */
  has(addr: Uint8Array): boolean {
    if (this.size === 0) return false;
    if (addr.length === 16 && isV4Mapped(addr)) return this.matchV4(word(addr, 12));
    if (addr.length === 4) return this.matchV4(word(addr, 0));
    if (addr.length !== 16) return false;
    const w = this.scratch;
    for (let i = 0; i < 4; i++) w[i] = word(addr, i * 4);
    for (const c of this.v6) {
      let ok = true;
      for (let i = 0; i < 4 && ok; i++) {
        const bits = Math.max(0, Math.min(32, c.prefix - i * 32));
        if (bits === 0) break;
        const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
        ok = ((w[i]! & mask) >>> 0) === c.words[i];
      }
      if (ok) return true;
    }
    return false;
  }

  private matchV4(a: number): boolean {
    for (const c of this.v4) {
      const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
      if (((a & mask) >>> 0) === c.words[0]) return true;
    }
    return false;
  }
}

function word(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** formatAddress renders a binary address (4 or 16 bytes) as text; IPv4-mapped IPv6 as IPv4. */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16 && isV4Mapped(b)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (b.length === 16) return ipaddr.fromByteArray(Array.from(b)).toString();
  return '';
}
