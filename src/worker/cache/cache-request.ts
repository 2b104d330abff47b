/**
 * CacheRequest is what the cache keeps of a client request on a cached route: uWS request objects
 * are valid only during the handler, but a cached request may be answered later (after a
 * coalesced fetch) or forwarded later (when that fetch could not be shared), so its header fields
 * are copied once. It doubles as the HttpRequest that ProxyRequest reads the upstream head from,
 * which lets the cache drop the client's conditional fields and add its own validators.
 */
import type { HttpRequest } from '../../uws.js';
import { emptyCacheControl, parseCacheControl, type CacheControl } from './cache-control.js';
import { hostOnly } from '../router.js';

/** request fields never forwarded on a fetch meant to fill the cache (the cache answers them itself) */
const FILL_DROP = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];

// scratch for the forEach callback (one capture at a time, synchronously)
let capturing: string[] = [];
function captureField(k: string, v: string): void {
  capturing.push(k, v);
}

export class CacheRequest {
  /** flat [name, value, ...], names lowercase (as uWS gives them) */
  readonly fields: string[];
  /** host (lowercase, no port) + target: the cache's primary key */
  readonly key: string;
  readonly cc: CacheControl | null;
  readonly hasAuthorization: boolean;
  readonly hasBody: boolean;
  readonly hasRange: boolean;
  /** fields the next forward leaves out (FILL_DROP when filling the cache) */
  drop: string[] | null = null;
  /** fields the next forward adds (validators) */
  extra: string[] | null = null;

  constructor(
    req: HttpRequest,
    readonly method: string,
    readonly target: string,
  ) {
    capturing = [];
    req.forEach(captureField);
    this.fields = capturing;
    capturing = [];
    this.key = hostOnly(this.get('host') ?? '') + target;
    const cc = this.get('cache-control');
    if (cc !== undefined) this.cc = parseCacheControl(cc);
    else if (/(^|,)\s*no-cache\s*(,|$)/i.test(this.get('pragma') ?? '')) {
      // Pragma: no-cache counts only without Cache-Control (RFC 9111 5.4)
      this.cc = emptyCacheControl();
      this.cc.noCache = true;
    } else this.cc = null;
    this.hasAuthorization = this.get('authorization') !== undefined;
    this.hasBody = this.get('content-length') !== undefined || this.get('transfer-encoding') !== undefined;
    this.hasRange = this.get('range') !== undefined;
  }

  /** get returns the field's value, several lines joined with ", ", or undefined. */
  get(name: string): string | undefined {
    const f = this.fields;
    let out: string | undefined;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) out = out === undefined ? f[i + 1] : out + ', ' + f[i + 1];
    return out;
  }

  /** forFill prepares the next forward to fetch a complete response to store (validators optional). */
  forFill(etag: string | null, lastModified: string | null): void {
    this.drop = FILL_DROP;
    let extra: string[] | null = null;
    if (etag !== null) (extra ??= []).push('if-none-match', etag);
    if (lastModified !== null) (extra ??= []).push('if-modified-since', lastModified);
    this.extra = extra;
  }

  /** forPass forwards the request as the client sent it. */
  forPass(): void {
    this.drop = null;
    this.extra = null;
  }

  // ---- the HttpRequest subset that buildHead reads ----------------------------------------

  getHeader(name: string): string {
    return this.get(name) ?? '';
  }

  forEach(cb: (key: string, value: string) => void): void {
    const f = this.fields;
    const drop = this.drop;
    for (let i = 0; i < f.length; i += 2) if (drop === null || !drop.includes(f[i]!)) cb(f[i]!, f[i + 1]!);
    const extra = this.extra;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) cb(extra[i]!, extra[i + 1]!);
  }

  /** asHttpRequest views this as the uWS request type ProxyRequest.start takes. */
  asHttpRequest(): HttpRequest {
    return this as unknown as HttpRequest;
  }
}
