/**
 * HeadRules: what one HTTP/1.x request head may say (RFC 9112 2-6, RFC 9110 5, 8.6, 10.1.1) and
 * what the request it announces is, for the incremental parser (http1-parser.ts, which extends
 * it and hands it complete lines). Refused (status, then the connection closes):
 *   - request line: a token method, one SP, the target, one SP, HTTP/1.0 or HTTP/1.1. Other
 *     well-formed versions: 505; anything else: 400.
 *   - target: origin-form ("/p?q", kept byte for byte, "?" included); absolute-form (scheme http or
 *     https, no userinfo: the path and query become the target and the authority replaces Host,
 *     RFC 9112 3.2.2); authority-form only with CONNECT (405 unless `connect` is set); "*" only
 *     with OPTIONS. Only VCHAR bytes, without "#" (HAProxy since 2.8.2 refuses "#" too: a
 *     fragment never belongs in a request; llhttp's strict mode refuses bytes >= 0x80, as here).
 *     Longer than maxUrlBytes: 414.
 *   - fields: tchar names, no whitespace before the colon, no obs-fold (RFC 9112 5.1, 5.2), no
 *     CTL in values but HTAB (NUL, CR, LF and DEL included, RFC 9110 5.5); a line without a colon
 *     is 400. Values with bytes >= 0x80 are decoded as UTF-8, and must be valid UTF-8 (the proxy
 *     writes heads as UTF-8 strings: anything else could not be relayed byte for byte). More than
 *     maxHeaders fields, or more than maxHeaderBytes counted as name + value + 4 per field: 431.
 *   - Host: exactly one on HTTP/1.1, at most one on HTTP/1.0, with a valid uri-host [":" port]
 *     (RFC 9112 3.2); an empty one is 400 too (as nginx: there is nothing to route on).
 *   - framing (RFC 9112 6.1-6.3): one Content-Length, digits only: a second one, even equal, or a
 *     list ("5, 5") is 400 (RFC 9110 8.6 allows either; nginx refuses duplicates, and a proxy
 *     that forwards one value must not guess); Transfer-Encoding with Content-Length,
 *     on HTTP/1.0, or without "chunked" as the final coding: 400; a coding before chunked (gzip,
 *     chunked): 501, as nginx and RFC 9112 6.1 (fulcrum cannot decode it for the server). A
 *     Content-Length over maxBodyBytes: 413 at once.
 *   - Expect: "100-continue" is noted (HTTP/1.1 only, RFC 9110 10.1.1), anything else is 417.
 */
import { isUtf8 } from 'node:buffer';
import type { RequestLimits } from './http1-parser.js';
import * as G from './http1-syntax.js';

/** the request body's length: 0, a Content-Length, or BODY_UNKNOWN (chunked) (as exchange.ts) */
const BODY_UNKNOWN = -1;

const SP = 32;
const HTAB = 9;

export abstract class HeadRules {
  // ---- the request whose head was parsed last (read them in onRequestHead) -----------------
  /** method and target stay set until that request is over ('' after), so that an error answer can name them */
  method = '';
  target = '';
  /** 0 or 1: HTTP/1.0 or HTTP/1.1 */
  minorVersion = 1;
  /** [name, value, ...], names lowercase; a new array per request (the sink keeps it) */
  fields: string[] = [];
  /** 0, a Content-Length, or -1 (chunked) */
  bodyLength = 0;
  /** the client allows another request on the connection (HTTP/1.1 without close, 1.0 with keep-alive) */
  keepAlive = true;
  /** Expect: 100-continue on HTTP/1.1 */
  expectContinue = false;
  /** Upgrade with Connection: upgrade on HTTP/1.1, no body: the connection changes protocol after a 101 */
  upgrade = false;
  /** CONNECT host:port (only with limits.connect) */
  connect = false;

  /** fields (or trailer fields) of the current head and their bytes, against the limits */
  protected count = 0;
  protected countBytes = 0;
  private hosts = 0;
  private hostAt = -1;
  private absoluteHost: string | null = null;
  private cl = -1;
  private te = 0;
  private teChunkedLast = false;
  private teOther = false;
  private connClose = false;
  private connKeepAlive = false;
  private connUpgrade = false;
  private hasUpgrade = false;
  private expectOther = false;

  constructor(public limits: RequestLimits) {}

  /** error refuses the request with `status` (the parser stops for good); always false */
  protected abstract error(status: number, reason: string): false;

  /** requestLine parses b[start, end) (no CRLF): method, target, version. */
  protected requestLine(b: Buffer, start: number, end: number): boolean {
    this.resetHead();
    let i = start;
    while (i < end && G.TCHAR[b[i]!] === 1) i++;
    if (i === start || b[i] !== SP) return this.error(400, 'invalid method');
    const method = G.methodName(b, start, i);
    const t0 = ++i;
    for (; i < end; i++) {
      const c = b[i]!;
      if (c === SP) break;
      if (c < 0x21 || c > 0x7e || c === 0x23) return this.error(400, 'invalid character in the request target');
    }
    if (i === t0) return this.error(400, 'invalid request line');
    if (i - t0 > this.limits.maxUrlBytes) return this.error(414, 'request target too long');
    if (i === end) return this.error(400, 'no HTTP version');
    const t1 = i++;
    const minor = G.httpMinorVersion(b, i, end);
    if (minor === G.VERSION_INVALID) return this.error(400, 'invalid HTTP version');
    if (minor === G.VERSION_UNSUPPORTED) return this.error(505, 'HTTP version not supported');
    this.minorVersion = minor;
    this.method = method;
    return this.targetForm(b, t0, t1);
  }

  /** targetForm classifies the request target (RFC 9112 3.2) and sets `target`. */
  private targetForm(b: Buffer, t0: number, t1: number): boolean {
    const method = this.method;
    const first = b[t0]!;
    if (method === 'CONNECT') {
      if (first === 0x2f || !G.validHost(b.toString('latin1', t0, t1), true)) return this.error(400, 'CONNECT needs host:port');
      if (!this.limits.connect) return this.error(405, 'CONNECT not allowed');
      this.connect = true;
      this.target = b.toString('latin1', t0, t1);
      return true;
    }
    if (first === 0x2f) {
      this.target = b.toString('latin1', t0, t1);
      return true;
    }
    if (first === 0x2a && t1 === t0 + 1) {
      if (method !== 'OPTIONS') return this.error(400, 'asterisk-form is only for OPTIONS');
      this.target = '*';
      return true;
    }
    // absolute-form: http(s)://authority[path][?query]
    const t = b.toString('latin1', t0, t1);
    const m = G.ABSOLUTE_RE.exec(t);
    if (m === null) return this.error(400, 'invalid request target');
    const authority = m[1]!;
    if (authority.includes('@') || !G.validHost(authority, false) || authority === '') return this.error(400, 'invalid authority in the request target');
    const rest = m[2]!;
    this.absoluteHost = authority;
    this.target = rest === '' ? (method === 'OPTIONS' ? '*' : '/') : rest.charCodeAt(0) === 0x3f ? '/' + rest : rest;
    return true;
  }

  /** fieldLine checks one field line b[start, end) and, in a head (not trailers), keeps it. */
  protected fieldLine(b: Buffer, start: number, end: number, head: boolean): boolean {
    const c0 = b[start]!;
    if (c0 === SP || c0 === HTAB) return this.error(400, 'obs-fold or whitespace before a field');
    let i = start;
    let h = 0;
    for (; i < end; i++) {
      const c = b[i]!;
      if (G.TCHAR[c] !== 1) break;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (i === end || b[i] !== 0x3a) return this.error(400, i === end ? 'field line without a colon' : 'invalid field name');
    if (i === start) return this.error(400, 'empty field name');
    const nameEnd = i;
    let vs = i + 1;
    let ve = end;
    while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    let high = false;
    for (let j = vs; j < ve; j++) {
      const c = b[j]!;
      if (c < 0x20) {
        if (c !== HTAB) return this.error(400, 'control character in a field value');
      } else if (c >= 0x7f) {
        if (c === 0x7f) return this.error(400, 'control character in a field value');
        high = true;
      }
    }
    const limits = this.limits;
    if (++this.count > limits.maxHeaders) return this.error(431, head ? 'too many header fields' : 'too many trailer fields');
    this.countBytes += nameEnd - start + (ve - vs) + 4;
    if (this.countBytes > limits.maxHeaderBytes) return this.error(431, head ? 'header fields too large' : 'trailer fields too large');
    if (high && !isUtf8(b.subarray(vs, ve))) return this.error(400, 'field value is not UTF-8');
    if (!head) return true; // trailers are checked and dropped

    const entry = G.fieldName(h, b, start, nameEnd);
    const value = b.toString(high ? 'utf8' : 'latin1', vs, ve);
    switch (entry.kind) {
      case G.Kind.Host:
        this.hosts++;
        this.hostAt = this.fields.length + 1;
        break;
      case G.Kind.ContentLength:
        if (this.cl !== -1) return this.error(400, 'more than one Content-Length');
        this.cl = G.contentLength(value);
        if (this.cl < 0) return this.error(400, 'invalid Content-Length');
        break;
      case G.Kind.TransferEncoding:
        if (!this.transferEncoding(value)) return this.error(400, 'invalid Transfer-Encoding');
        break;
      case G.Kind.Connection:
        this.connection(value);
        break;
      case G.Kind.Expect:
        if (value.length === 12 && value.toLowerCase() === '100-continue') this.expectContinue = true;
        else this.expectOther = true;
        break;
      case G.Kind.Upgrade:
        this.hasUpgrade = true;
        break;
    }
    this.fields.push(entry.name, value);
    return true;
  }

  /** transferEncoding notes the codings of one Transfer-Encoding line; false when the list is malformed. */
  private transferEncoding(v: string): boolean {
    const before = this.te;
    let s = 0;
    for (let i = 0; i <= v.length; i++) {
      if (i < v.length && v.charCodeAt(i) !== 0x2c) continue;
      const t = v.slice(s, i).trim().toLowerCase();
      s = i + 1;
      if (t === '') continue; // RFC 9110 5.6.1: empty list elements are ignored
      if (this.teChunkedLast) return false; // anything after chunked, or chunked twice
      this.te++;
      if (t === 'chunked') this.teChunkedLast = true;
      else this.teOther = true;
    }
    return this.te > before; // a Transfer-Encoding line with no coding at all is malformed
  }

  private connection(v: string): void {
    const t = G.connectionTokens(v);
    if (t & G.CONN_CLOSE) this.connClose = true;
    if (t & G.CONN_KEEP_ALIVE) this.connKeepAlive = true;
    if (t & G.CONN_UPGRADE) this.connUpgrade = true;
  }

  /** headRules applies the head-wide rules (Host, framing, Expect, persistence); false after an error. */
  protected headRules(): boolean {
    const fields = this.fields;
    const v1 = this.minorVersion === 1;
    if (this.hosts > 1) return this.error(400, 'more than one Host');
    if (this.hosts === 0 && v1) return this.error(400, 'no Host');
    if (this.hosts === 1 && !G.validHost(fields[this.hostAt]!, false)) return this.error(400, 'invalid Host');
    if (this.absoluteHost !== null) {
      // RFC 9112 3.2.2: the authority of an absolute-form target replaces Host
      if (this.hosts === 1) fields[this.hostAt] = this.absoluteHost;
      else fields.push('host', this.absoluteHost);
    }
    let bodyLength = 0;
    if (this.te > 0) {
      if (!v1) return this.error(400, 'Transfer-Encoding on HTTP/1.0');
      if (this.cl !== -1) return this.error(400, 'Transfer-Encoding with Content-Length');
      if (!this.teChunkedLast) return this.error(400, 'chunked is not the final transfer coding');
      if (this.teOther) return this.error(501, 'transfer coding not implemented');
      bodyLength = BODY_UNKNOWN;
    } else if (this.cl > 0) {
      if (this.cl > this.limits.maxBodyBytes) return this.error(413, 'request body too large');
      bodyLength = this.cl;
    }
    if (v1 && this.expectOther) return this.error(417, 'unsupported expectation');
    if (this.connect && bodyLength !== 0) return this.error(400, 'CONNECT with a body');
    this.bodyLength = bodyLength;
    this.keepAlive = v1 ? !this.connClose : this.connKeepAlive && !this.connClose;
    if (!v1) this.expectContinue = false; // RFC 9110 10.1.1: ignored in HTTP/1.0 requests
    this.upgrade = v1 && this.hasUpgrade && this.connUpgrade && bodyLength === 0 && !this.connect;
    return true;
  }

  /** resetHead forgets the previous head's fields and rules (a request line begins). */
  private resetHead(): void {
    if (this.fields.length !== 0) this.fields = []; // after an error (a head handed over leaves a new array)
    this.count = this.countBytes = this.hosts = 0;
    this.hostAt = -1;
    this.absoluteHost = null;
    this.cl = -1;
    this.te = 0;
    this.teChunkedLast = this.teOther = false;
    this.connClose = this.connKeepAlive = this.connUpgrade = this.hasUpgrade = false;
    this.expectContinue = this.expectOther = this.upgrade = this.connect = false;
  }
}
