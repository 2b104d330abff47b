/** Redis URLs in logs, /status and the banner: the password is never shown. */

/** maskUrl hides the password of a redis URL (for logs and /status). */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(unparsable)';
  }
}
