/**
 * A throwaway self-signed certificate made with openssl (EC P-256, valid two days, CN and
 * subjectAltName as asked: RFC 5280 4.2.1.6), for the benchmarks' HTTPS servers and the tests.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface SelfSigned {
  cert: string;
  key: string;
}

/**
 * selfSigned writes <dir>/<name>.crt and <dir>/<name>.key and returns their paths. altNames are
 * subjectAltName entries ("DNS:x", "IP:127.0.0.1"; default the CN as a DNS name). With a
 * passphrase the key is encrypted with it; without, it is written in the clear.
 */
export function selfSigned(dir: string, cn: string, opts: { name?: string; altNames?: string[]; passphrase?: string } = {}): SelfSigned {
  const name = opts.name ?? cn;
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const san = (opts.altNames ?? [`DNS:${cn}`]).join(',');
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
      `subjectAltName=${san}`,
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
