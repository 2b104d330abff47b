/**
 * Throwaway TLS certificates for the tests, made at test time with openssl: self-signed EC P-256,
 * valid two days, CN and subjectAltName (RFC 5280 4.2.1.6) the name asked for. Tests that need
 * them skip, saying why, where openssl is missing.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

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
export function makeCert(dir: string, cn: string, opts: { name?: string; passphrase?: string } = {}): { cert: string; key: string } {
  const name = opts.name ?? cn;
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=DNS:${cn}`,
      '-keyout',
      key,
      '-out',
      cert,
      ...(opts.passphrase ? ['-passout', `pass:${opts.passphrase}`] : ['-nodes']),
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
