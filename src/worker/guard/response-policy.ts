/**
 * What clients see of the servers: response header fields stripped (Server, X-Powered-By, the
 * configured list, and the targeted cache-control fields fulcrum consumes, RFC 9213), fulcrum's
 * own Server header, and error pages per status. Compiled per config; the per-header check costs
 * a length lookup for names that cannot match.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/schema.js';

export class ResponsePolicy {
  private readonly strip: Set<string>;
  private readonly lengths: boolean[] = [];
  readonly serverHeader: string | null;
  private readonly pages = new Map<number, string>();

  /** alsoStrip: fields removed besides responses.stripHeaders (the cache's targeted fields, cache/targeted.ts) */
  constructor(c: Config['responses'], alsoStrip: readonly string[] = []) {
    this.strip = new Set([...c.stripHeaders, ...alsoStrip].map((h) => h.toLowerCase()));
    for (const h of this.strip) this.lengths[h.length] = true;
    this.serverHeader = c.serverHeader;
    for (const [status, file] of Object.entries(c.errorPages)) {
      try {
        this.pages.set(Number(status), readFileSync(file, 'utf8'));
      } catch {
        /* checked at load; a file removed since then falls back to plain text */
      }
    }
  }

  /** strips reports whether a response header field is removed. */
  strips(name: string): boolean {
    return this.lengths[name.length] === true && this.strip.has(name.toLowerCase());
  }

  /** page returns the configured error page for a status, if any. */
  page(status: number): string | undefined {
    return this.pages.size === 0 ? undefined : this.pages.get(status);
  }
}
