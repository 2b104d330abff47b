/**
 * The head of an HTTP/1.1 response as ResponseParser (response-parser.ts) reads it: the status line
 * and header fields of RFC 9112 (sections 4 and 5), each refused when ambiguous (bare LF, obs-fold,
 * whitespace before a colon, control characters in values, differing Content-Length values,
 * Transfer-Encoding other than "chunked"), and the body framing the head decides (RFC 9112 6.3).
 * Called once per head, on bytes the caller owns; writes only into the parser's public fields.
 */

export const enum Framing {
  None = 0,
  Length = 1,
  Chunked = 2,
  Close = 3,
}

/** Header kinds the proxy treats specially; everything else is relayed as it is. */
export const enum HeaderKind {
  Other = 0,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  HopByHop,
  Date,
}

/** What readHead fills in: the public fields of ResponseParser. */
interface ParsedHead {
  statusCode: number;
  reason: string;
  minorVersion: number;
  readonly headers: (string | Buffer)[];
  readonly kinds: HeaderKind[];
  framing: Framing;
  contentLength: number;
  keepAlive: boolean;
  connectionTokens: string[] | null;
}

const CR = 13;
const LF = 10;

/**
 * Header names seen recently, by a hash of their bytes: a backend sends the same few names on
 * every response, and reusing the string (and its kind) saves a latin1 decode and, for the names
 * the proxy looks at, a toLowerCase per field. Bounded (NAME_SLOTS entries, replaced on collision).
 */
interface NameEntry {
  bytes: Uint8Array;
  name: string;
  kind: HeaderKind;
}
const NAME_SLOTS = 512;
const names: (NameEntry | undefined)[] = new Array<NameEntry | undefined>(NAME_SLOTS);

/**
 * readHead parses the head in buf[start, end), which ends with CRLFCRLF, into head; for a final
 * (non-1xx) response it also sets the framing. Returns null, or the reason the head is refused.
 */
export function readHead(head: ParsedHead, buf: Buffer, start: number, end: number, maxHeaders: number, isHeadRequest: boolean): string | null {
  // status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  const lineEnd = buf.indexOf(LF, start);
  if (
    lineEnd - start < 13 ||
    buf[lineEnd - 1] !== CR ||
    buf[start] !== 0x48 ||
    buf[start + 1] !== 0x54 ||
    buf[start + 2] !== 0x54 ||
    buf[start + 3] !== 0x50 ||
    buf[start + 4] !== 0x2f ||
    buf[start + 5] !== 0x31 ||
    buf[start + 6] !== 0x2e ||
    (buf[start + 7] !== 0x31 && buf[start + 7] !== 0x30) ||
    buf[start + 8] !== 0x20
  ) {
    return 'invalid status line';
  }
  head.minorVersion = buf[start + 7] === 0x31 ? 1 : 0;
  const d0 = buf[start + 9]! - 48,
    d1 = buf[start + 10]! - 48,
    d2 = buf[start + 11]! - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return 'invalid status code';
  head.statusCode = d0 * 100 + d1 * 10 + d2;
  const reasonStart = start + 12;
  const reasonEnd = lineEnd - 1;
  if (reasonStart < reasonEnd) {
    if (buf[reasonStart] !== 0x20) return 'invalid status line';
    for (let j = reasonStart + 1; j < reasonEnd; j++) {
      const c = buf[j]!;
      if ((c < 0x20 && c !== 9) || c === 0x7f) return 'invalid reason phrase';
    }
    head.reason = buf.toString('latin1', reasonStart + 1, reasonEnd);
  } else {
    head.reason = '';
  }

  // header fields
  let p = lineEnd + 1;
  let cl = -1;
  let te = false;
  let count = 0;
  const last = end - 2; // the final CRLF
  while (p < last) {
    // the line end, found here: header lines are short, and a call into C++ per line costs more
    let le = p;
    while (le < end && buf[le] !== LF) le++;
    if (le >= end || buf[le - 1] !== CR) return 'bare LF or unterminated header line';
    if (++count > maxHeaders) return 'too many response headers';
    const first = buf[p]!;
    if (first === 0x20 || first === 9) return 'obs-fold in response header';
    let colon = p;
    let h = 0;
    for (; colon < le; colon++) {
      const c = buf[colon]!;
      if (TCHAR[c] !== 1) break;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (colon === p || buf[colon] !== 0x3a) return 'invalid header name';
    let vs = colon + 1;
    let ve = le - 1;
    while (vs < ve && (buf[vs] === 0x20 || buf[vs] === 9)) vs++;
    while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 9)) ve--;
    let high = false;
    for (let j = vs; j < ve; j++) {
      const c = buf[j]!;
      if (c < 0x20) {
        if (c !== 9) return 'control character in header value';
      } else if (c === 0x7f) {
        return 'control character in header value';
      } else if (c > 0x7f) high = true;
    }
    const slot = (h ^ (h >>> 9)) & (NAME_SLOTS - 1);
    let entry = names[slot];
    if (entry === undefined || !sameBytes(entry.bytes, buf, p, colon)) {
      const n = buf.toString('latin1', p, colon);
      entry = { bytes: Uint8Array.prototype.slice.call(buf, p, colon), name: n, kind: classify(n) };
      names[slot] = entry;
    }
    const name = entry.name;
    const kind = entry.kind;
    // obs-text is relayed as the exact bytes (a latin1 string would be re-encoded as UTF-8)
    const value: string | Buffer = high ? Buffer.from(buf.subarray(vs, ve)) : buf.toString('latin1', vs, ve);
    switch (kind) {
      case HeaderKind.ContentLength: {
        const n = parseContentLength(value as string);
        if (n < 0 || (cl !== -1 && cl !== n)) return 'invalid or conflicting Content-Length';
        cl = n;
        break;
      }
      case HeaderKind.TransferEncoding:
        if (te || (value as string).trim().toLowerCase() !== 'chunked' || head.minorVersion === 0) return 'unsupported Transfer-Encoding';
        te = true;
        break;
      case HeaderKind.Connection:
        parseConnection(head, value as string);
        break;
    }
    head.headers.push(name, value);
    head.kinds.push(kind);
    p = le + 1;
  }
  if (head.minorVersion === 0) head.keepAlive = false;
  if (head.statusCode >= 200) {
    if (isHeadRequest || head.statusCode === 204 || head.statusCode === 304) {
      head.framing = Framing.None;
      head.contentLength = cl;
    } else if (te) {
      head.framing = Framing.Chunked;
      // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; such a message is suspect
      if (cl !== -1) head.keepAlive = false;
      head.contentLength = -1;
    } else if (cl !== -1) {
      head.framing = Framing.Length;
      head.contentLength = cl;
    } else {
      head.framing = Framing.Close;
      head.keepAlive = false;
    }
  }
  return null;
}

/** parseConnection reads a Connection field: "close" ends keep-alive, other tokens name hop-by-hop fields. */
function parseConnection(head: ParsedHead, v: string): void {
  for (const raw of v.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === 'close') head.keepAlive = false;
    else if (t === 'keep-alive' || t === '') continue;
    else (head.connectionTokens ??= []).push(t);
  }
}

/** sameBytes tells whether buf[start, end) holds exactly the bytes of b. */
function sameBytes(b: Uint8Array, buf: Buffer, start: number, end: number): boolean {
  if (b.length !== end - start) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== buf[start + i]) return false;
  return true;
}

/** tchar per RFC 9110 5.6.2 */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** parseContentLength accepts "42" and "42, 42"; returns -1 when invalid or inconsistent. */
function parseContentLength(v: string): number {
  let n = -1;
  let cur = -1;
  for (let i = 0; i <= v.length; i++) {
    const c = i < v.length ? v.charCodeAt(i) : 44;
    if (c >= 48 && c <= 57) {
      cur = cur === -1 ? c - 48 : cur * 10 + (c - 48);
      if (cur > Number.MAX_SAFE_INTEGER) return -1;
    } else if (c === 44 /* , */) {
      if (cur === -1 || (n !== -1 && n !== cur)) return -1;
      n = cur;
      cur = -1;
      while (i + 1 < v.length && (v.charCodeAt(i + 1) === 32 || v.charCodeAt(i + 1) === 9)) i++;
    } else return -1;
  }
  return n;
}

/** classify maps a header name to the kind the proxy cares about (case-insensitive). */
function classify(name: string): HeaderKind {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te' ? HeaderKind.HopByHop : HeaderKind.Other;
    case 4:
      return name.toLowerCase() === 'date' ? HeaderKind.Date : HeaderKind.Other;
    case 7: {
      const l = name.toLowerCase();
      return l === 'upgrade' || l === 'trailer' ? HeaderKind.HopByHop : HeaderKind.Other;
    }
    case 10: {
      const l = name.toLowerCase();
      return l === 'connection' ? HeaderKind.Connection : l === 'keep-alive' ? HeaderKind.KeepAlive : HeaderKind.Other;
    }
    case 14:
      return name.toLowerCase() === 'content-length' ? HeaderKind.ContentLength : HeaderKind.Other;
    case 16:
      return name.toLowerCase() === 'proxy-connection' ? HeaderKind.HopByHop : HeaderKind.Other;
    case 17:
      return name.toLowerCase() === 'transfer-encoding' ? HeaderKind.TransferEncoding : HeaderKind.Other;
    case 18:
      return name.toLowerCase() === 'proxy-authenticate' ? HeaderKind.HopByHop : HeaderKind.Other;
    case 19:
      return name.toLowerCase() === 'proxy-authorization' ? HeaderKind.HopByHop : HeaderKind.Other;
    default:
      return HeaderKind.Other;
  }
}
