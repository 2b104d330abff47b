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

/**
 * CidrSet answers "is this address in any of these ranges?" without allocating, in O(log n):
 * the ranges are merged into sorted, disjoint [first, last] intervals (IPv4 as 32-bit numbers,
 * IPv6 as four 32-bit words compared in order), and a lookup is one binary search.
 */
export class CidrSet {
  readonly size: number;
  /** IPv4 interval bounds: v4First[i] <= v4Last[i] < v4First[i + 1] */
  private readonly v4First: Uint32Array;
  private readonly v4Last: Uint32Array;
  /** IPv6 interval bounds, 4 words per interval */
  private readonly v6First: Uint32Array;
  private readonly v6Last: Uint32Array;
  private readonly v6Count: number;
  private readonly scratch = new Uint32Array(4);

  constructor(cidrs: readonly Cidr[]) {
    this.size = cidrs.length;
    const v4 = cidrs
      .filter((c) => c.v4)
      .map((c) => [c.words[0]!, (c.words[0]! | (c.prefix === 0 ? 0xffffffff : ~(0xffffffff << (32 - c.prefix)) >>> 0)) >>> 0] as [number, number])
      .sort((a, b) => a[0] - b[0]);
    const m4: [number, number][] = [];
    for (const r of v4) {
      const last = m4[m4.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else m4.push([r[0], r[1]]);
    }
    this.v4First = Uint32Array.from(m4.map((r) => r[0]));
    this.v4Last = Uint32Array.from(m4.map((r) => r[1]));
    const v6 = cidrs
      .filter((c) => !c.v4)
      .map((c) => {
        const last = new Uint32Array(4);
        for (let i = 0; i < 4; i++) {
          const bits = Math.max(0, Math.min(32, c.prefix - i * 32));
          const host = bits === 32 ? 0 : bits === 0 ? 0xffffffff : ~(0xffffffff << (32 - bits)) >>> 0;
          last[i] = (c.words[i]! | host) >>> 0;
        }
        return { first: c.words, last };
      })
      .sort((a, b) => cmp4(a.first, 0, b.first, 0));
    const m6: { first: Uint32Array; last: Uint32Array }[] = [];
    for (const r of v6) {
      const prev = m6[m6.length - 1];
      // merge overlapping ranges (adjacent ones stay apart: harmless)
      if (prev && cmp4(r.first, 0, prev.last, 0) <= 0) {
        if (cmp4(r.last, 0, prev.last, 0) > 0) prev.last = r.last;
      } else m6.push({ first: r.first, last: r.last });
    }
    this.v6Count = m6.length;
    this.v6First = new Uint32Array(m6.length * 4);
    this.v6Last = new Uint32Array(m6.length * 4);
    m6.forEach((r, i) => {
      this.v6First.set(r.first, i * 4);
      this.v6Last.set(r.last, i * 4);
    });
  }

  static fromStrings(list: readonly string[]): CidrSet {
    return new CidrSet(
      list.map((s) => {
        const c = parseCidr(s);
        if (!c) throw new TypeError(`invalid CIDR ${JSON.stringify(s)}`);
        return c;
      }),
    );
  }

  /** has reports whether the binary address (4 or 16 bytes) is in the set. */
  has(addr: Uint8Array): boolean {
    if (this.size === 0) return false;
    if (addr.length === 16 && isV4Mapped(addr)) return this.matchV4(word(addr, 12));
    if (addr.length === 4) return this.matchV4(word(addr, 0));
    if (addr.length !== 16 || this.v6Count === 0) return false;
    const w = this.scratch;
    for (let i = 0; i < 4; i++) w[i] = word(addr, i * 4);
    // last interval whose first <= w
    let lo = 0;
    let hi = this.v6Count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp4(this.v6First, mid * 4, w, 0) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && cmp4(w, 0, this.v6Last, found * 4) <= 0;
  }

  private matchV4(a: number): boolean {
    const first = this.v4First;
    let lo = 0;
    let hi = first.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (first[mid]! <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && a <= this.v4Last[found]!;
  }
}

function cmp4(a: Uint32Array, ao: number, b: Uint32Array, bo: number): number {
  for (let i = 0; i < 4; i++) {
    const x = a[ao + i]!;
    const y = b[bo + i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
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
