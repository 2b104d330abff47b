/**
 * AccessList is a compiled allow/deny matcher: deny wins; an empty allow list allows everyone.
 * Built once per config (and per admin change); a lookup is two binary searches (see CidrSet).
 */
import { CidrSet } from '../../net/cidr.js';

export interface AccessSpec {
  allow: readonly string[];
  deny: readonly string[];
  denyAction: '403' | 'close';
}

export class AccessList {
  private readonly allowSet: CidrSet;
  private readonly denySet: CidrSet;
  /** close the connection without a response instead of answering 403 */
  readonly closeOnDeny: boolean;

  constructor(spec: AccessSpec) {
    this.allowSet = CidrSet.fromStrings(spec.allow);
    this.denySet = CidrSet.fromStrings(spec.deny);
    this.closeOnDeny = spec.denyAction === 'close';
  }

  /** allows reports whether the binary address (4 or 16 bytes) may be served. */
  allows(addr: Uint8Array): boolean {
    if (this.denySet.size !== 0 && this.denySet.has(addr)) return false;
    return this.allowSet.size === 0 || this.allowSet.has(addr);
  }

  /** compile returns the matcher for an `access` section, or null when there is none (or it is empty). */
  static compile(spec: AccessSpec | undefined): AccessList | null {
    if (!spec || (spec.allow.length === 0 && spec.deny.length === 0)) return null;
    return new AccessList(spec);
  }
}
