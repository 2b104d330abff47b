/**
 * CacheStore keeps stored responses in one worker: a byte-bounded LRU (lru-cache with maxSize and
 * sizeCalculation) of variants, plus an index from each URL (primary key) to the Vary field names
 * it was last seen with and its variant keys, so that a URL can be invalidated or purged with all
 * its variants.
 */
import { LRUCache } from 'lru-cache';
import { varyStar, type CacheEntry } from './policy.js';
import type { CacheRequest } from './cache-request.js';

interface UriIndex {
  /** Vary names of the newest stored variant */
  varyNames: string[];
  variants: Set<string>;
}

/** Lookup result besides the entry: why nothing was found. */
export const enum Miss {
  None = 0,
  /** nothing stored for the URL */
  Uri = 1,
  /** the URL is stored, but not for these Vary values */
  Vary = 2,
}

/** Per-entry bookkeeping beyond the body: headers and the structures around them (estimate). */
const ENTRY_OVERHEAD = 256;

export class CacheStore {
  private readonly lru: LRUCache<string, CacheEntry>;
  private readonly uris = new Map<string, UriIndex>();
  lastMiss: Miss = Miss.None;

  constructor(
    readonly maxBytes: number,
    readonly maxObjectBytes: number,
  ) {
    this.lru = new LRUCache<string, CacheEntry>({
      maxSize: Math.max(1, maxBytes),
      // the identity body plus the compressed variants made from it
      maxEntrySize: Math.max(1, Math.min(maxBytes, maxObjectBytes * 2 + 65536)),
      sizeCalculation: (e) => e.size,
      dispose: (e, key, reason) => {
        if (reason !== 'set') this.forget(e.primaryKey, key);
      },
    });
  }

  /** entrySize estimates the bytes an entry holds. */
  static entrySize(e: Omit<CacheEntry, 'size'>): number {
    let n = ENTRY_OVERHEAD + e.body.length + e.variantKey.length * 2 + e.statusLine.length;
    for (const h of e.headers) n += h.length;
    if (e.encodings !== null) for (const b of e.encodings.values()) n += b.length;
    return n;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** lookup finds the variant for r (sets lastMiss when there is none) and marks it recently used. */
  lookup(r: CacheRequest): CacheEntry | undefined {
    const idx = this.uris.get(r.key);
    if (idx === undefined) {
      this.lastMiss = Miss.Uri;
      return undefined;
    }
    const e = selectable(this.lru.get(variantKey(r.key, idx.varyNames, r)));
    this.lastMiss = e === undefined ? Miss.Vary : Miss.None;
    return e;
  }

  /**
   * peek is lookup without effects (`fulcrum explain`'s cache probe): the LRU order and lastMiss
   * stay as they were, so a probe between a request's lookup and its use of lastMiss changes nothing.
   */
  peek(r: CacheRequest): CacheEntry | undefined {
    const idx = this.uris.get(r.key);
    return idx === undefined ? undefined : selectable(this.lru.peek(variantKey(r.key, idx.varyNames, r)));
  }

  /** varyNamesOf returns the Vary field names the URL of r was last stored with (undefined: nothing stored). */
  varyNamesOf(r: CacheRequest): readonly string[] | undefined {
    return this.uris.get(r.key)?.varyNames;
  }

  /** set stores e (replacing the variant with the same key). */
  set(e: CacheEntry): void {
    let idx = this.uris.get(e.primaryKey);
    if (idx === undefined) this.uris.set(e.primaryKey, (idx = { varyNames: e.varyNames, variants: new Set() }));
    else idx.varyNames = e.varyNames;
    idx.variants.add(e.variantKey);
    this.lru.set(e.variantKey, e);
    // too large for lru-cache: it was not stored
    if (!this.lru.has(e.variantKey)) this.forget(e.primaryKey, e.variantKey);
  }

  /** refreshed re-counts an entry whose headers changed (after a 304) and marks it recently used. */
  refreshed(e: CacheEntry): void {
    if (this.lru.peek(e.variantKey) === e) this.lru.set(e.variantKey, e);
  }

  /** delete drops one stored variant. */
  delete(e: CacheEntry): void {
    if (this.lru.peek(e.variantKey) === e) this.lru.delete(e.variantKey);
  }

  /** invalidateUri drops every variant stored for a primary key; returns how many. */
  invalidateUri(primaryKey: string): number {
    const idx = this.uris.get(primaryKey);
    if (idx === undefined) return 0;
    const keys = [...idx.variants];
    for (const k of keys) this.lru.delete(k);
    this.uris.delete(primaryKey);
    return keys.length;
  }

  /**
   * purge drops entries by URL or prefix. A value starting with "/" matches the path of every host;
   * otherwise it is host + path ("example.com/a", from "http://example.com/a").
   */
  purge(value: string, prefix: boolean): number {
    let n = 0;
    const pathOnly = value.startsWith('/');
    for (const key of [...this.uris.keys()]) {
      const subject = pathOnly ? key.slice(key.indexOf('/')) : key;
      if (prefix ? subject.startsWith(value) : subject === value) n += this.invalidateUri(key);
    }
    return n;
  }

  clear(): void {
    this.lru.clear();
    this.uris.clear();
  }

  private forget(primaryKey: string, key: string): void {
    const idx = this.uris.get(primaryKey);
    if (idx === undefined) return;
    idx.variants.delete(key);
    if (idx.variants.size === 0) this.uris.delete(primaryKey);
  }
}

/** variantKey is the LRU key of the variant of primaryKey that request r selects. */
export function variantKey(primaryKey: string, varyNames: string[], r: CacheRequest): string {
  if (varyNames.length === 0) return primaryKey;
  let k = primaryKey;
  for (const n of varyNames) k += '\0' + n + '=' + normalizeFieldValue(r.get(n));
  return k;
}

/** normalizeFieldValue: absent and empty differ; whitespace around commas does not matter. */
function normalizeFieldValue(v: string | undefined): string {
  if (v === undefined) return '\u0001';
  return v.replace(/\s*,\s*/g, ',').trim();
}

/**
 * selectable drops an entry with Vary: * : it matches no request (RFC 9111 4.1); such responses
 * are not stored, and one that got it from a 304 is dropped (response-cache.ts), but none is ever
 * selected.
 */
function selectable(e: CacheEntry | undefined): CacheEntry | undefined {
  return e !== undefined && varyStar(e.varyNames) ? undefined : e;
}
