/**
 * Targeted cache control (RFC 9213): response fields such as CDN-Cache-Control that carry cache
 * directives for one class of caches. fulcrum keeps a target list (cache.targetedFields, most
 * applicable first, default ["CDN-Cache-Control"]); the first of them present with a valid,
 * non-empty value decides the caching of that response, and Cache-Control and Expires are then
 * ignored for it (RFC 9213 2.1). Fields off the list change nothing and pass through.
 *
 * A targeted field is a Structured Field Dictionary (RFC 9213 2.2, RFC 9651 4.2.2), parsed here
 * strictly: a field that does not parse (e.g. "max-age =100", "MaX-aGe=1", "a, &&") is ignored
 * whole, as if absent. Members are cache directives with the semantics they have in Cache-Control;
 * a member whose value is not of the type the directive implies (max-age="100", max-age=1.5,
 * no-store=?0) is not consumed (ignored); parameters and unknown directives are ignored.
 */
import type { Config } from '../../config/schema.js';
import { emptyCacheControl, type CacheControl } from './cache-control.js';

/** targetList returns the configured target list, lowercase, in priority order. */
export function targetList(c: Config['cache']): string[] {
  return c.targetedFields.map((n) => n.toLowerCase());
}

/**
 * strippedTargetedFields returns the targeted fields removed from responses (by the response
 * policy's strip list, on misses relayed and hits alike): the target list, when some route
 * caches (fulcrum is then the cache they target) and cache.forwardTargetedFields is false.
 */
export function strippedTargetedFields(c: Config): string[] {
  if (c.cache.forwardTargetedFields || !c.routes.some((r) => r.cache !== undefined && r.cache !== false)) return [];
  return targetList(c.cache);
}

/** Kinds of Structured Field bare items, as far as directives care. */
const enum Kind {
  Integer,
  Decimal,
  String,
  Token,
  Bytes,
  Boolean,
  Date,
  DisplayString,
  InnerList,
}

/**
 * parseTargeted parses the value of a targeted field (several field lines joined with ", ") into
 * cache directives, or returns null when the value is empty or not a valid Dictionary: the caller
 * then falls back to the next field of the target list, and finally to Cache-Control and Expires.
 */
export function parseTargeted(value: string): CacheControl | null {
  const p = new DictParser(value);
  const cc = emptyCacheControl();
  return p.parse(cc) && p.members > 0 ? cc : null;
}

/** MAX_DELTA is the delta-seconds cap (RFC 9111 1.2.2): larger values are 2^31. */
const MAX_DELTA = 2147483648;

/** apply sets (or, for a value of the wrong type, clears: a later member overrides an earlier one) a directive. */
function apply(cc: CacheControl, key: string, kind: Kind, num: number, bool: boolean): void {
  const seconds = kind === Kind.Integer && num >= 0 ? Math.min(num, MAX_DELTA) : -1;
  const flag = (kind === Kind.Boolean && bool) || false;
  switch (key) {
    case 'max-age':
      cc.maxAge = seconds;
      break;
    case 's-maxage':
      cc.sMaxage = seconds;
      break;
    case 'stale-while-revalidate':
      cc.staleWhileRevalidate = seconds;
      break;
    case 'stale-if-error':
      cc.staleIfError = seconds;
      break;
    // no-cache and private take true or a String of field names (RFC 9213 2.2); a qualified one
    // is read as unqualified, the safe reading, as in Cache-Control (cache-control.ts)
    case 'no-cache':
      cc.noCache = flag || kind === Kind.String;
      break;
    case 'private':
      cc.private = flag || kind === Kind.String;
      break;
    case 'no-store':
      cc.noStore = flag;
      break;
    case 'public':
      cc.public = flag;
      break;
    case 'must-revalidate':
      cc.mustRevalidate = flag;
      break;
    case 'proxy-revalidate':
      cc.proxyRevalidate = flag;
      break;
    case 'immutable':
      cc.immutable = flag;
      break;
    case 'no-transform':
      cc.noTransform = flag;
      break;
  }
}

const DIGIT = (c: number) => c >= 0x30 && c <= 0x39;
const LCALPHA = (c: number) => c >= 0x61 && c <= 0x7a;
const ALPHA = (c: number) => LCALPHA(c) || (c >= 0x41 && c <= 0x5a);
const TCHAR_TABLE = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR_TABLE[ch.charCodeAt(0)] = 1;
/** tchar (RFC 9110 5.6.2) */
const TCHAR = (c: number) => c >= 0 && c < 128 && TCHAR_TABLE[c] === 1;
const BASE64 = (c: number) => ALPHA(c) || DIGIT(c) || c === 0x2b || c === 0x2f || c === 0x3d;
const HEX_LC = (c: number) => DIGIT(c) || (c >= 0x61 && c <= 0x66);

/** DictParser follows the parsing algorithms of RFC 9651 section 4.2 for a Dictionary. */
class DictParser {
  private i = 0;
  members = 0;
  // the bare item just parsed
  private kind = Kind.Token;
  private num = 0;
  private bool = false;

  constructor(private readonly s: string) {}

  private at(): number {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1;
  }

  private skipSp(): void {
    while (this.at() === 0x20) this.i++;
  }

  private skipOws(): void {
    while (this.at() === 0x20 || this.at() === 0x09) this.i++;
  }

  /** parse reads the whole field value into cc; false on any parsing error (4.2). */
  parse(cc: CacheControl): boolean {
    const s = this.s;
    this.skipSp();
    while (this.i < s.length) {
      const key = this.key();
      if (key === null) return false;
      if (this.at() === 0x3d) {
        this.i++;
        if (!this.itemOrInnerList()) return false;
      } else {
        this.kind = Kind.Boolean;
        this.bool = true;
        if (!this.parameters()) return false;
      }
      apply(cc, key, this.kind, this.num, this.bool);
      this.members++;
      this.skipOws();
      if (this.i >= s.length) break;
      if (this.at() !== 0x2c) return false;
      this.i++;
      this.skipOws();
      if (this.i >= s.length) return false; // a trailing comma
    }
    // the top level: trailing spaces are discarded, anything else left over is an error
    this.skipSp();
    return this.i >= s.length;
  }

  /** key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) (4.2.3.3) */
  private key(): string | null {
    const start = this.i;
    let c = this.at();
    if (!LCALPHA(c) && c !== 0x2a) return null;
    this.i++;
    for (c = this.at(); LCALPHA(c) || DIGIT(c) || c === 0x5f || c === 0x2d || c === 0x2e || c === 0x2a; c = this.at()) this.i++;
    return this.s.slice(start, this.i);
  }

  private itemOrInnerList(): boolean {
    if (this.at() !== 0x28) return this.bareItem() && this.parameters();
    // inner list (4.2.1.2): items separated by SP, in parentheses, then parameters
    this.i++;
    for (;;) {
      this.skipSp();
      if (this.at() === 0x29) {
        this.i++;
        this.kind = Kind.InnerList;
        return this.parameters();
      }
      if (!this.bareItem() || !this.parameters()) return false;
      const c = this.at();
      if (c !== 0x20 && c !== 0x29) return false;
    }
  }

  /** parameters (4.2.3.2): *( ";" *SP key [ "=" bare-item ] ), values ignored but checked */
  private parameters(): boolean {
    const kind = this.kind;
    const num = this.num;
    const bool = this.bool;
    while (this.at() === 0x3b) {
      this.i++;
      this.skipSp();
      if (this.key() === null) return false;
      if (this.at() === 0x3d) {
        this.i++;
        if (!this.bareItem()) return false;
      }
    }
    this.kind = kind;
    this.num = num;
    this.bool = bool;
    return true;
  }

  /** bareItem (4.2.3.1) sets kind/num/bool; false on an error. */
  private bareItem(): boolean {
    const c = this.at();
    if (c === 0x2d || DIGIT(c)) return this.number();
    if (c === 0x22) return this.string();
    if (c === 0x2a || ALPHA(c)) return this.token();
    if (c === 0x3a) return this.bytes();
    if (c === 0x3f) return this.boolean();
    if (c === 0x40) {
      // Date (4.2.9): "@" and an Integer
      this.i++;
      if (!this.number() || this.kind !== Kind.Integer) return false;
      this.kind = Kind.Date;
      return true;
    }
    if (c === 0x25) return this.displayString();
    return false;
  }

  /** Integer or Decimal (4.2.4): at most 15 integer digits; a decimal has 1-3 fraction digits, 12 integer digits at most. */
  private number(): boolean {
    const s = this.s;
    let sign = 1;
    if (this.at() === 0x2d) {
      sign = -1;
      this.i++;
    }
    if (!DIGIT(this.at())) return false;
    const start = this.i;
    let dot = -1;
    for (;;) {
      const c = this.at();
      if (DIGIT(c)) this.i++;
      else if (c === 0x2e && dot === -1) {
        if (this.i - start > 12) return false;
        dot = this.i;
        this.i++;
      } else break;
      if (dot === -1 ? this.i - start > 15 : this.i - start > 16) return false;
    }
    if (dot !== -1) {
      const fraction = this.i - dot - 1;
      if (fraction < 1 || fraction > 3) return false;
      this.kind = Kind.Decimal;
    } else this.kind = Kind.Integer;
    this.num = sign * Number(s.slice(start, this.i));
    return true;
  }

  /** String (4.2.5): printable ASCII, with \" and \\ as the only escapes. */
  private string(): boolean {
    this.i++;
    for (;;) {
      const c = this.at();
      if (c === -1) return false;
      this.i++;
      if (c === 0x5c) {
        const n = this.at();
        if (n !== 0x22 && n !== 0x5c) return false;
        this.i++;
      } else if (c === 0x22) {
        this.kind = Kind.String;
        return true;
      } else if (c < 0x20 || c > 0x7e) return false;
    }
  }

  /** Token (4.2.6): ( ALPHA / "*" ) *( tchar / ":" / "/" ) */
  private token(): boolean {
    this.i++;
    for (let c = this.at(); c !== -1 && (TCHAR(c) || c === 0x3a || c === 0x2f); c = this.at()) this.i++;
    this.kind = Kind.Token;
    return true;
  }

  /** Byte Sequence (4.2.7): ":" base64 ":" */
  private bytes(): boolean {
    this.i++;
    while (BASE64(this.at())) this.i++;
    if (this.at() !== 0x3a) return false;
    this.i++;
    this.kind = Kind.Bytes;
    return true;
  }

  /** Boolean (4.2.8): "?0" or "?1" */
  private boolean(): boolean {
    this.i++;
    const c = this.at();
    if (c !== 0x30 && c !== 0x31) return false;
    this.i++;
    this.kind = Kind.Boolean;
    this.bool = c === 0x31;
    return true;
  }

  /** Display String (4.2.10): %" then printable ASCII and %xx (lowercase hex) forming valid UTF-8, then " */
  private displayString(): boolean {
    this.i++;
    if (this.at() !== 0x22) return false;
    this.i++;
    const bytes: number[] = [];
    for (;;) {
      const c = this.at();
      if (c === -1 || c < 0x20 || c > 0x7e) return false;
      this.i++;
      if (c === 0x25) {
        const h = this.at();
        const l = this.i + 1 < this.s.length ? this.s.charCodeAt(this.i + 1) : -1;
        if (!HEX_LC(h) || !HEX_LC(l)) return false;
        bytes.push(Number.parseInt(this.s.slice(this.i, this.i + 2), 16));
        this.i += 2;
      } else if (c === 0x22) {
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
        } catch {
          return false;
        }
        this.kind = Kind.DisplayString;
        return true;
      } else bytes.push(c);
    }
  }
}
