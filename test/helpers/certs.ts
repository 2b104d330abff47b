/**
 * Throwaway TLS certificates for the tests, made at test time with openssl: self-signed EC P-256,
 * valid two days, CN and subjectAltName (RFC 5280 4.2.1.6) the name asked for. Tests that need
 * them skip, saying why, where openssl is missing.
 */
import { execFileSync } from 'node:child_process';
import { type SelfSigned, selfSigned } from '../../scripts/bench/self-signed.js';

/** hasOpenssl tells whether the openssl command runs here. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * makeCert writes <dir>/<name>.crt and <dir>/<name>.key (name defaults to cn) and returns their
 * paths. With a passphrase the key is encrypted with it; without, it is written in the clear.
 */
export function makeCert(dir: string, cn: string, opts: { name?: string; passphrase?: string } = {}): SelfSigned {
  return selfSigned(dir, cn, opts);
}
