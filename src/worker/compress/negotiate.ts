/**
 * Content negotiation and eligibility for compression: the client's Accept-Encoding with
 * q-values (RFC 9110 12.5.3), and the content types worth compressing.
 */
import type { CompressionConfig, Config, RouteConfig } from '../../config/schema.js';

export type Alg = 'br' | 'gzip' | 'deflate';

/** CompressPolicy is a route's resolved compression settings. */
export interface CompressPolicy {
  algorithms: Alg[];
  minBytes: number;
  maxBytes: number;
  gzipLevel: number;
  brotliQuality: number;
  /** exact types, "type/" prefixes and "+suffix" suffixes (lowercase) */
  exact: Set<string>;
  prefixes: string[];
  suffixes: string[];
}

/** compressionPolicy resolves a route's "compression" setting, or null when the route does not compress. */
export function compressionPolicy(cfg: Config, route: RouteConfig): CompressPolicy | null {
  const base: CompressionConfig = cfg.compression;
  const rc = route.compression;
  if (rc === false || (rc === undefined && !base.enabled)) return null;
  const o = typeof rc === 'object' ? rc : {};
  const algorithms = (o.algorithms ?? base.algorithms) as Alg[];
  if (algorithms.length === 0) return null;
  const p: CompressPolicy = {
    algorithms,
    minBytes: o.minBytes ?? base.minBytes,
    maxBytes: o.maxBytes ?? base.maxBytes,
    gzipLevel: base.gzipLevel,
    brotliQuality: base.brotliQuality,
    exact: new Set(),
    prefixes: [],
    suffixes: [],
  };
  for (const t of o.types ?? base.types) {
    const l = t.toLowerCase();
    const star = l.indexOf('/*');
    if (l.endsWith('/*')) p.prefixes.push(l.slice(0, -1));
    else if (star !== -1 && l[star + 2] === '+') p.suffixes.push(l.slice(star + 2));
    else p.exact.add(l);
  }
  return p;
}

/** compressibleType: is a Content-Type value one of the policy's types (never text/event-stream)? */
export function compressibleType(p: CompressPolicy, contentType: string | null): boolean {
  if (contentType === null) return false;
  const semi = contentType.indexOf(';');
  const t = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (t === 'text/event-stream') return false;
  if (p.exact.has(t)) return true;
  for (const x of p.prefixes) if (t.startsWith(x)) return true;
  for (const x of p.suffixes) if (t.endsWith(x)) return true;
  return false;
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
    else if (name === 'gzip' || name === 'x-gzip') qGzip = q;
    else if (name === 'deflate') qDeflate = q;
    else if (name === '*') star = q;
  }
  let best: Alg | null = null;
  let bestQ = 0;
  for (const a of algorithms) {
    let q = a === 'br' ? qBr : a === 'gzip' ? qGzip : qDeflate;
    if (q < 0) q = star;
    if (q > bestQ) {
      best = a;
      bestQ = q;
    }
  }
  return best;
}
