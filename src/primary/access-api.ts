/**
 * Admin endpoints for the global allow/deny lists:
 *   GET /access                 -> { allow, deny, denyAction }
 *   PUT /access  { allow?, deny?, denyAction? }  replaces the given keys, pushes to every worker
 *
 * A change becomes part of the primary's live config (so a restarted worker gets it too) until
 * the next reload, which reads the config file (and its allowFile/denyFile) again, as HAProxy's
 * runtime ACL changes last until a reload.
 */
import { parseCidr } from '../net/cidr.js';
import type { AccessConfig } from '../config/schema.js';
import type { AdminServer } from './admin.js';
import type { Supervisor } from './supervisor.js';

const EMPTY: AccessConfig = { allow: [], deny: [], allowFile: null, denyFile: null, denyAction: '403' };

export function registerAccessApi(admin: AdminServer, sup: Supervisor): void {
  const current = (): AccessConfig => sup.config.raw.access ?? EMPTY;
  admin.route('GET', '/access', () => {
    const a = current();
    return { body: { allow: a.allow, deny: a.deny, denyAction: a.denyAction } };
  });
  admin.route('PUT', '/access', async (req) => {
    const b = req.body as Record<string, unknown> | undefined;
    if (typeof b !== 'object' || b === null || Array.isArray(b))
      return { status: 400, body: { error: 'expected a JSON object { allow?, deny?, denyAction? }' } };
    const errors: string[] = [];
    const next: AccessConfig = { ...current(), allowFile: null, denyFile: null };
    for (const key of Object.keys(b))
      if (key !== 'allow' && key !== 'deny' && key !== 'denyAction') errors.push(`$.${key}: unknown key (expected allow, deny, denyAction)`);
    for (const key of ['allow', 'deny'] as const) {
      const v = b[key];
      if (v === undefined) continue;
      if (!Array.isArray(v)) {
        errors.push(`$.${key}: expected an array of CIDR strings`);
        continue;
      }
      v.forEach((c, i) => {
        if (typeof c !== 'string' || !parseCidr(c)) errors.push(`$.${key}[${i}]: got ${JSON.stringify(c)}; expected an IPv4 or IPv6 address or CIDR range`);
      });
      next[key] = v as string[];
    }
    if (b.denyAction !== undefined) {
      if (b.denyAction !== '403' && b.denyAction !== 'close') errors.push(`$.denyAction: got ${JSON.stringify(b.denyAction)}; expected "403" or "close"`);
      else next.denyAction = b.denyAction;
    }
    if (errors.length) return { status: 422, body: { error: 'invalid access lists; nothing changed', errors } };
    const cfg = sup.config;
    const out = await sup.reload({ ...cfg, raw: { ...cfg.raw, access: next } });
    if (!out.ok) return { status: 500, body: { error: 'the workers could not apply the change; nothing changed', reason: out.reason } };
    return { body: { allow: next.allow, deny: next.deny, denyAction: next.denyAction } };
  });
}
