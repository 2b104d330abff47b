/**
 * Request keys for balancing: the "hash" policy's key (a header, a cookie or the path) and
 * cookie values (RFC 6265 5.4 cookie-string: "name=value; name=value").
 */
import { HashKeyKind, type Upstream } from './upstream/upstream.js';

/** RequestFields is the part of a request the keys are read from (ClientExchange has it). */
export interface RequestFields {
  /** field returns a field's value ("" when absent; cookie lines joined with "; ") */
  field(name: string): string;
}

/** hashKeyOf returns the request's key for the "hash" policy ("" when absent). */
export function hashKeyOf(req: RequestFields, up: Upstream, target: string): string {
  switch (up.hashKeyKind) {
    case HashKeyKind.Header:
      return req.field(up.hashKeyName);
    case HashKeyKind.Cookie:
      return cookieValue(req.field('cookie'), up.hashKeyName);
    case HashKeyKind.Path: {
      const q = target.indexOf('?');
      return q === -1 ? target : target.slice(0, q);
    }
    default:
      return '';
  }
}

/** cookieValue returns the value of cookie `name` in a Cookie header ("" when absent). */
export function cookieValue(header: string, name: string): string {
  if (header === '') return '';
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(name, from);
    if (at === -1) return '';
    const eq = at + name.length;
    // must start a pair ("name=" at the start or after "; ") and be followed by "="
    let b = at - 1;
    while (b >= 0 && header.charCodeAt(b) === 32) b--;
    if ((b < 0 || header.charCodeAt(b) === 59) && header.charCodeAt(eq) === 61) {
      const end = header.indexOf(';', eq + 1);
      return (end === -1 ? header.slice(eq + 1) : header.slice(eq + 1, end)).trim();
    }
    from = at + 1;
  }
  return '';
}
