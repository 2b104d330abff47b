/**
 * checkCertPair verifies a PEM certificate and its key before they are handed to uWS: uWS 20.30
 * crashes the process (segfault) on an unusable SNI certificate, and an encrypted key without
 * its passphrase would make OpenSSL prompt on the terminal.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** returns null when usable, else what is wrong */
export function checkCertPair(certFile: string, keyFile: string, passphrase: string | null): string | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certFile));
  } catch (err) {
    return `${certFile} is not a readable PEM certificate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  let key: KeyObject;
  try {
    const pem = readFileSync(keyFile);
    if (passphrase === null && /ENCRYPTED/.test(pem.toString('latin1'))) return `${keyFile} is encrypted: set its passphrase`;
    key = createPrivateKey({ key: pem, passphrase: passphrase ?? undefined });
  } catch (err) {
    return `${keyFile} is not a readable PEM private key, or the passphrase is wrong (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  if (!cert.checkPrivateKey(key)) return `${keyFile} is not the key of ${certFile}`;
  return null;
}
