/**
 * CacheRequest is what the cache reads of a client request on a cached route (RFC 9111 4): its
 * key, its Cache-Control, and the facts that decide whether it may be answered from the store.
 * The fields are the exchange's own (valid until the exchange ends, which covers a coalesced wait).
 * It is also the HeadEdit of the forward: a fill leaves out the client's conditional fields and
 * adds the cache's validators (RFC 9111 4.3.1).
 */
import type { ClientExchange, ClientPeer } from '../engine/exchange.js';
import type { HeadEdit } from '../proxy/head.js';
import { hostOnly } from '../router.js';
import { emptyCacheControl, parseCacheControl, type CacheControl } from './cache-control.js';

/** request fields never forwarded on a fetch meant to fill the cache (the cache answers them itself) */
const FILL_DROP = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];

export class CacheRequest implements HeadEdit {
  /** flat [name, value, ...], names lowercase */
  readonly fields: readonly string[];
  readonly method: string;
  readonly target: string;
  readonly secure: boolean;
  readonly peer: ClientPeer;
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

  constructor(ex: ClientExchange) {
    this.fields = ex.fields;
    this.method = ex.method;
    this.target = ex.target;
    this.secure = ex.secure;
    this.peer = ex.peer;
    this.key = hostOnly(this.get('host') ?? '') + this.target;
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
}
