/**
 * Content negotiation and eligibility for compression: the client's Accept-Encoding with
 * q-values (RFC 9110 12.5.3), the content types worth compressing, and the types whose
 * compressed stream is flushed at each of the server's chunks (server-sent events).
 */
import type { CompressionConfig, Config, RouteConfig } from '../../config/schema.js';
import { ZSTD_AVAILABLE } from './codecs.js';

export type Alg = 'br' | 'zstd' | 'gzip' | 'deflate';

/** TypeSet matches media types: exact types, "type/" prefixes and "+suffix" suffixes (lowercase). */
interface TypeSet {
  exact: Set<string>;
  prefixes: string[];
  suffixes: string[];
}

/** CompressPolicy is a route's resolved compression settings. */
export interface CompressPolicy {
  /** the encodings offered, in order of preference (zstd only where the runtime has it) */
  algorithms: Alg[];
  minBytes: number;
  maxBytes: number;
  types: TypeSet;
  /** types flushed at each chunk of the server (compression.flushTypes) */
  flush: TypeSet;
}

/** compressionPolicy resolves a route's "compression" setting, or null when the route does not compress. */
export function compressionPolicy(cfg: Config, route: RouteConfig): CompressPolicy | null {
  const base: CompressionConfig = cfg.compression;
  const rc = route.compression;
  if (rc === false || (rc === undefined && !base.enabled)) return null;
  const o = typeof rc === 'object' ? rc : {};
  const offered = (o.algorithms ?? base.algorithms) as Alg[];
  // zstd is left out, silently, where the runtime has none (Node.js before 22.15 / 23.8; README)
  const algorithms = ZSTD_AVAILABLE ? offered : offered.filter((a) => a !== 'zstd');
  if (algorithms.length === 0) return null;
  return {
    algorithms,
    minBytes: o.minBytes ?? base.minBytes,
    maxBytes: o.maxBytes ?? base.maxBytes,
    types: typeSet(o.types ?? base.types),
    flush: typeSet(o.flushTypes ?? base.flushTypes),
  };
}

function typeSet(list: readonly string[]): TypeSet {
  const s: TypeSet = { exact: new Set(), prefixes: [], suffixes: [] };
  for (const t of list) {
    const l = t.toLowerCase();
    const star = l.indexOf('/*');
    if (l.endsWith('/*')) s.prefixes.push(l.slice(0, -1));
    else if (star !== -1 && l[star + 2] === '+') s.suffixes.push(l.slice(star + 2));
    else s.exact.add(l);
  }
  return s;
}

/** mediaType returns a Content-Type value's type/subtype, lowercase, without parameters. */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function matches(s: TypeSet, t: string): boolean {
  if (s.exact.has(t)) return true;
  for (const x of s.prefixes) if (t.startsWith(x)) return true;
  for (const x of s.suffixes) if (t.endsWith(x)) return true;
  return false;
}

/** compressibleType: is a Content-Type value one of the policy's types? */
export function compressibleType(p: CompressPolicy, contentType: string | null): boolean {
  return contentType !== null && matches(p.types, mediaType(contentType));
}

/** flushedType: is the compressed stream of this type flushed at each of the server's chunks? */
export function flushedType(p: CompressPolicy, contentType: string | null): boolean {
  return contentType !== null && matches(p.flush, mediaType(contentType));
}

/**
 * negotiate picks the encoding for an Accept-Encoding value: the highest q-value among the
 * policy's algorithms ("*" covers those not named, q=0 refuses), ties broken by the policy's order
 * (br first by default). null: send identity.
 */
// clients send the same few Accept-Encoding values over and over: remember the last answer
let lastValue = '';
let lastAlgorithms: Alg[] | null = null;
let lastAlg: Alg | null = null;

export function negotiate(acceptEncoding: string, algorithms: Alg[]): Alg | null {
  if (acceptEncoding.length === 0) return null;
  if (acceptEncoding === lastValue && algorithms === lastAlgorithms) return lastAlg;
  lastAlg = negotiateUncached(acceptEncoding, algorithms);
  lastValue = acceptEncoding;
  lastAlgorithms = algorithms;
  return lastAlg;
}

function negotiateUncached(acceptEncoding: string, algorithms: Alg[]): Alg | null {
  let star = -1;
  let qBr = -1;
  let qZstd = -1;
  let qGzip = -1;
  let qDeflate = -1;
  for (const part of acceptEncoding.split(',')) {
    const semi = part.indexOf(';');
    const name = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
    let q = 1;
    if (semi !== -1) {
      const m = /q\s*=\s*([0-9.]+)/i.exec(part.slice(semi + 1));
      if (m) q = Number(m[1]);
      if (!(q >= 0 && q <= 1)) q = 0;
    }
    if (name === 'br') qBr = q;
    else if (name === 'zstd') qZstd = q;
    else if (name === 'gzip' || name === 'x-gzip') qGzip = q;
    else if (name === 'deflate') qDeflate = q;
    else if (name === '*') star = q;
  }
  let best: Alg | null = null;
  let bestQ = 0;
  for (const a of algorithms) {
    let q = a === 'br' ? qBr : a === 'zstd' ? qZstd : a === 'gzip' ? qGzip : qDeflate;
    if (q < 0) q = star;
    if (q > bestQ) {
      best = a;
      bestQ = q;
    }
  }
  return best;
}
