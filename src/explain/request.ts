/**
 * The request `fulcrum explain` is asked about (the command line's METHOD URL -H ... --client, or
 * GET /explain's query), turned into what an engine would hand the dispatcher: the method, the
 * target exactly as given (never through WHATWG URL parsing, which would resolve "..", decode and
 * re-encode: the spellings routing normalises are the point of asking), the header fields as an
 * engine lists them (names lowercase, values trimmed, Host first from the URL's authority unless a
 * Host header is given), and the client address in the binary form the CIDR matchers take.
 */
import ipaddr from 'ipaddr.js';
import { formatAddress } from '../net/cidr.js';

/** ExplainInput is a request as a person writes it. */
export interface ExplainInput {
  method: string;
  /** "http://host[:port]/path?query", "https://...", or an origin-form "/path?query" with a Host header */
  url: string;
  /** "Name: value" lines */
  headers: readonly string[];
  /** the client address (default 127.0.0.1) */
  client?: string | undefined;
}

/** ExplainRequest is the request as the dispatcher would see it. */
export interface ExplainRequest {
  method: string;
  /** origin-form target, exactly as given */
  target: string;
  /** the URL said https: explained as if it arrived on the TLS listener */
  secure: boolean;
  /** [name, value, ...], names lowercase (ClientExchange.fields) */
  fields: string[];
  /** the client address: 4 or 16 bytes, and as text */
  clientBytes: Uint8Array;
  clientIp: string;
  /** --client was not given (127.0.0.1 stands in) */
  clientDefaulted: boolean;
}

export const DEFAULT_CLIENT = '127.0.0.1';

/** RFC 9110 5.6.2 token: methods and field names */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** what an engine refuses in a target or a field value: controls other than HTAB, and (in a target) spaces */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point
const BAD_TARGET = /[\x00-\x20]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point
const BAD_VALUE = /[\x00-\x08\x0a-\x1f]/;

/** parseExplainInput checks and converts a request; a string says what is wrong with it. */
export function parseExplainInput(input: ExplainInput): ExplainRequest | string {
  const method = input.method;
  if (!TOKEN.test(method)) return `method ${JSON.stringify(method)} is not an HTTP method token`;
  let secure = false;
  let authority: string | null = null;
  let target: string;
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(input.url);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') return `URL scheme ${JSON.stringify(m[1])}: only http and https`;
    secure = scheme === 'https';
    authority = m[2]!;
    if (authority.includes('@')) return 'URL with user information: a client never sends it (put credentials in an Authorization header)';
    if (authority === '') return `URL ${JSON.stringify(input.url)} has no host`;
    target = m[3] || '/';
    if (target.startsWith('?')) target = '/' + target;
  } else if (input.url.startsWith('/')) {
    target = input.url;
  } else {
    return `URL ${JSON.stringify(input.url)}: give http://host/path (or /path with -H 'Host: name')`;
  }
  if (BAD_TARGET.test(target)) return 'the URL has spaces or control characters, which no engine accepts in a request target';

  const given: string[] = [];
  for (const line of input.headers) {
    const colon = line.indexOf(':');
    if (colon <= 0) return `header ${JSON.stringify(line)}: expected "Name: value"`;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name)) return `header name ${JSON.stringify(name)} is not a token`;
    if (BAD_VALUE.test(value)) return `header ${name}: control characters in the value`;
    given.push(name.toLowerCase(), value);
  }
  const fields: string[] = [];
  const hasHost = given.some((v, i) => i % 2 === 0 && v === 'host');
  if (!hasHost) {
    if (authority === null) return 'an origin-form URL (/path) needs -H "Host: name"';
    fields.push('host', authority);
  }
  fields.push(...given);

  const clientText = input.client ?? DEFAULT_CLIENT;
  const bare = clientText.startsWith('[') && clientText.endsWith(']') ? clientText.slice(1, -1) : clientText;
  // four dotted decimals only: ipaddr.js also reads "127.1" and "0x7f.0.0.1", which no socket reports
  if (!ipaddr.IPv4.isValidFourPartDecimal(bare) && !ipaddr.IPv6.isValid(bare)) return `client ${JSON.stringify(clientText)} is not an IPv4 or IPv6 address`;
  const bytes = Uint8Array.from(ipaddr.parse(bare).toByteArray());
  return { method, target, secure, fields, clientBytes: bytes, clientIp: formatAddress(bytes), clientDefaulted: input.client === undefined };
}

/** fieldPairs returns a field list as [name, value] pairs (for JSON). */
export function fieldPairs(fields: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out;
}
