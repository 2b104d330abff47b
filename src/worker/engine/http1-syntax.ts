/**
 * The grammar the request parser (http1-parser.ts) checks, token by token: tchar (RFC 9110
 * 5.6.2), hex digits, Content-Length (1*DIGIT, RFC 9110 8.6), Host (uri-host [":" port], RFC 9112
 * 3.2, RFC 3986 3.2.2), the absolute-form target (RFC 9112 3.2.2), chunk extensions (RFC 9112
 * 7.1.1), and the table of recently seen field names (each decoded and lowercased once).
 */

/** field names the parser acts on */
export const enum Kind {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  Expect,
  Upgrade,
}

/** chunk extension states (RFC 9112 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS value ] )) */
export const enum Ext {
  AfterSize,
  Bws,
  NameStart,
  Name,
  AfterName,
  ValueStart,
  Token,
  Quoted,
  QuotedEscape,
  AfterQuoted,
}
/** extStep results besides a next state: the extension ended at CR, or a byte broke the grammar */
export const EXT_END = -1;
export const EXT_BAD = -2;

const CR = 13;
const SP = 32;
const HTAB = 9;

/** extStep reads one byte of a chunk extension: the next state, EXT_END at the CR, or EXT_BAD. */
export function extStep(ext: Ext, c: number): number {
  const ws = c === SP || c === HTAB;
  switch (ext) {
    case Ext.AfterSize:
    case Ext.AfterQuoted:
    case Ext.Token:
      if (ext === Ext.Token && TCHAR[c] === 1) return ext;
      if (c === CR) return EXT_END;
      if (c === 0x3b) return Ext.NameStart;
      return ws ? Ext.Bws : EXT_BAD;
    case Ext.Bws:
      if (c === 0x3b) return Ext.NameStart;
      return ws ? ext : EXT_BAD;
    case Ext.NameStart:
      if (TCHAR[c] === 1) return Ext.Name;
      return ws ? ext : EXT_BAD;
    case Ext.Name:
    case Ext.AfterName:
      if (ext === Ext.Name && TCHAR[c] === 1) return ext;
      if (c === 0x3d) return Ext.ValueStart;
      if (c === 0x3b) return Ext.NameStart;
      if (ws) return Ext.AfterName;
      return c === CR && ext === Ext.Name ? EXT_END : EXT_BAD; // BWS then CRLF is not in the grammar
    case Ext.ValueStart:
      if (c === 0x22) return Ext.Quoted;
      if (TCHAR[c] === 1) return Ext.Token;
      return ws ? ext : EXT_BAD;
    case Ext.Quoted:
      if (c === 0x22) return Ext.AfterQuoted;
      if (c === 0x5c) return Ext.QuotedEscape;
      return (c < 0x20 && c !== HTAB) || c === 0x7f ? EXT_BAD : ext;
    case Ext.QuotedEscape:
      return (c < 0x20 && c !== HTAB) || c === 0x7f ? EXT_BAD : Ext.Quoted;
  }
}

interface NameEntry {
  bytes: Uint8Array;
  /** lowercase */
  name: string;
  kind: Kind;
}
// Recently seen names by a hash of their bytes: clients send the same names on every request, and
// a hit saves a decode and a toLowerCase per field. Bounded, replaced on collision.
const NAME_SLOTS = 512;
const names: (NameEntry | undefined)[] = new Array<NameEntry | undefined>(NAME_SLOTS);

/** fieldName returns the entry for the name in b[start, end), whose bytes hash to h. */
export function fieldName(h: number, b: Buffer, start: number, end: number): NameEntry {
  const slot = (h ^ (h >>> 9)) & (NAME_SLOTS - 1);
  let entry = names[slot];
  if (entry === undefined || !sameBytes(entry.bytes, b, start, end)) {
    const name = b.toString('latin1', start, end).toLowerCase();
    entry = { bytes: Uint8Array.prototype.slice.call(b, start, end), name, kind: classify(name) };
    names[slot] = entry;
  }
  return entry;
}

/** contentLength parses 1*DIGIT; -1 for anything else (a sign, a list, spaces, more than 2^53 - 1). */
export function contentLength(v: string): number {
  if (v.length === 0 || v.length > 16) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

export const VERSION_INVALID = -1;
export const VERSION_UNSUPPORTED = -2;

/** httpMinorVersion reads "HTTP/" DIGIT "." DIGIT in b[i, end): 0 or 1, VERSION_UNSUPPORTED for other digits (505), VERSION_INVALID otherwise (400). */
export function httpMinorVersion(b: Buffer, i: number, end: number): number {
  if (end - i !== 8 || b[i] !== 0x48 || b[i + 1] !== 0x54 || b[i + 2] !== 0x54 || b[i + 3] !== 0x50 || b[i + 4] !== 0x2f) return VERSION_INVALID;
  if (!isDigit(b[i + 5]!) || b[i + 6] !== 0x2e || !isDigit(b[i + 7]!)) return VERSION_INVALID;
  if (b[i + 5] !== 0x31 || (b[i + 7] !== 0x31 && b[i + 7] !== 0x30)) return VERSION_UNSUPPORTED;
  return b[i + 7] === 0x31 ? 1 : 0;
}

export const CONN_CLOSE = 1;
export const CONN_KEEP_ALIVE = 2;
export const CONN_UPGRADE = 4;

/** connectionTokens reads a Connection value's tokens that matter here (close, keep-alive, upgrade), as a bit set. */
export function connectionTokens(v: string): number {
  if (v.indexOf(',') === -1) return tokenBit(v.toLowerCase());
  let bits = 0;
  for (const raw of v.split(',')) bits |= tokenBit(raw.trim().toLowerCase());
  return bits;
}

function tokenBit(t: string): number {
  return t === 'close' ? CONN_CLOSE : t === 'keep-alive' ? CONN_KEEP_ALIVE : t === 'upgrade' ? CONN_UPGRADE : 0;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** sameBytes tells whether buf[start, end) holds exactly the bytes of b. */
function sameBytes(b: Uint8Array, buf: Buffer, start: number, end: number): boolean {
  if (b.length !== end - start) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== buf[start + i]) return false;
  return true;
}

/** methodName returns the method as a string, the common ones without a decode. */
export function methodName(b: Buffer, start: number, end: number): string {
  const c = b[start];
  switch (end - start) {
    case 3:
      if (c === 0x47 && b[start + 1] === 0x45 && b[start + 2] === 0x54) return 'GET';
      if (c === 0x50 && b[start + 1] === 0x55 && b[start + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (c === 0x50 && b[start + 1] === 0x4f && b[start + 2] === 0x53 && b[start + 3] === 0x54) return 'POST';
      if (c === 0x48 && b[start + 1] === 0x45 && b[start + 2] === 0x41 && b[start + 3] === 0x44) return 'HEAD';
      break;
  }
  return b.toString('latin1', start, end);
}

function classify(name: string): Kind {
  switch (name) {
    case 'host':
      return Kind.Host;
    case 'content-length':
      return Kind.ContentLength;
    case 'transfer-encoding':
      return Kind.TransferEncoding;
    case 'connection':
      return Kind.Connection;
    case 'expect':
      return Kind.Expect;
    case 'upgrade':
      return Kind.Upgrade;
    default:
      return Kind.Other;
  }
}

/** scheme "://" authority, then the path and query (RFC 9112 3.2.2, narrowed to http and https) */
export const ABSOLUTE_RE = /^[Hh][Tt][Tt][Pp][Ss]?:\/\/([^/?]*)(.*)$/;
// uri-host (reg-name or IPv4: unreserved / pct-encoded / sub-delims; or an IP-literal) and a port
const HOST_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;
const HOST_PORT_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$/;
let lastHost = '';

/** validHost checks uri-host [":" port] (RFC 9112 3.2); `needPort` for CONNECT's host:port. The last good one is remembered: clients repeat it. */
export function validHost(h: string, needPort: boolean): boolean {
  if (needPort) return HOST_PORT_RE.test(h);
  if (h === lastHost) return true;
  if (!HOST_RE.test(h)) return false;
  lastHost = h;
  return true;
}

/** tchar per RFC 9110 5.6.2 */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;
