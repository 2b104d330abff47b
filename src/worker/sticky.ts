/**
 * Sticky sessions, the worker's side. The session table is owned by the primary
 * (src/primary/sessions.ts); each worker holds a copy, pushed to it, so that a lookup is a local
 * Map.get. A worker that creates or moves a session uses it at once and reports it in its next
 * batch; the primary stores it and pushes it to every worker.
 *
 * Cookie mode: the cookie value is `<random id>.<server hint>`, the hint being the server id's
 * hash in base 36. A worker that has not yet received a brand-new session from the primary
 * (the first ~200 ms) routes by the hint, so a client's second request never bounces. The table
 * wins over the hint: a session that moved stays moved, across worker restarts.
 */
import { randomBytes } from 'node:crypto';
import type { PickContext } from './balancer/index.js';
import { cookieValue } from './hash-key.js';
import { addReporter, onState } from './obs/report.js';
import type { ServerState } from './upstream/server-state.js';
import type { Upstream } from './upstream/upstream.js';

/** per upstream: session key -> server id (survives reloads: keyed by upstream name) */
const tables = new Map<string, Map<string, string>>();
let created: [string, string, string, number][] = [];
const touched = new Map<string, Set<string>>();

/** StickyHow says what a sticky lookup found (stickyDecide), and so what stickyPick records. */
export const enum StickyHow {
  /** the table has the session and its server is available: the session stays */
  Kept,
  /** the table has the session but its server is gone, down or drained: it moves to the policy's pick */
  Moved,
  /** a cookie session this worker has not received yet: its server hint (or the pick, when that server is unavailable) */
  Hint,
  /** no session (or no key): the policy picks, and a new session is created */
  New,
}

/** stickyOut carries what stickyDecide/stickyPick decided besides the server (no allocation per request) */
export const stickyOut = { key: '', setCookie: '', how: StickyHow.New };

function tableOf(name: string): Map<string, string> {
  let t = tables.get(name);
  if (t === undefined) tables.set(name, (t = new Map()));
  return t;
}

/** SessionLookup is a session table as the decision reads it: key -> server id (a worker's copy, or the primary's table for explain). */
export interface SessionLookup {
  get(key: string): string | undefined;
}

/**
 * stickyDecide is the decision of stickyPick without its effects on the session table: the
 * server for a request on an upstream with sticky sessions (undefined: none available), with
 * stickyOut.key the session key read from the request and stickyOut.how what was found. The
 * policy's pick it may run is the real one (its cursor moves; a dry run restores it, see
 * previewServer). `fulcrum explain` calls it with the primary's table.
 */
export function stickyDecide(up: Upstream, cookieHeader: string, ctx: PickContext, table: SessionLookup): ServerState | undefined {
  const st = up.spec.sticky;
  const cookie = st.mode === 'cookie';
  const key = cookie ? cookieValue(cookieHeader, st.cookieName) : ctx.clientIp;
  stickyOut.key = key;
  if (key !== '') {
    const id = table.get(key);
    if (id !== undefined) {
      const s = up.byId(id);
      if (s?.available()) {
        stickyOut.how = StickyHow.Kept;
        return s;
      }
      // a known session whose server is gone, down or drained: move it, keep the key
      stickyOut.how = StickyHow.Moved;
      return up.pick(ctx);
    }
    if (cookie && isSessionId(key)) {
      // a session this worker has not received yet (or one the primary forgot): follow the hint
      stickyOut.how = StickyHow.Hint;
      const h = byHint(up, key);
      return h?.available() ? h : up.pick(ctx);
    }
  }
  stickyOut.how = StickyHow.New;
  return up.pick(ctx);
}

/**
 * stickyPick returns the server for a request on an upstream with sticky sessions (stickyDecide),
 * then creates, moves or touches the session as decided; stickyOut.key is the session key,
 * stickyOut.setCookie the Set-Cookie value to send ("" when none).
 */
export function stickyPick(up: Upstream, cookieHeader: string, ctx: PickContext): ServerState | undefined {
  const table = tableOf(up.name);
  stickyOut.setCookie = '';
  const s = stickyDecide(up, cookieHeader, ctx, table);
  if (s === undefined) return undefined;
  switch (stickyOut.how) {
    case StickyHow.Kept:
      touch(up.name, stickyOut.key);
      break;
    case StickyHow.New: {
      const st = up.spec.sticky;
      if (st.mode === 'cookie') {
        const k = newSessionId(s);
        stickyOut.key = k;
        stickyOut.setCookie = `${st.cookieName}=${k}; Path=/; HttpOnly; SameSite=Lax`;
      }
      record(up.name, stickyOut.key, s.id, table, Date.now());
      break;
    }
    case StickyHow.Hint:
      // following the hint repeats the creating worker's decision, it is not a new one: decided 0,
      // so that it can never override a move the primary already has (it only teaches the primary
      // a session it forgot). A hint whose server is unavailable made a real decision.
      record(up.name, stickyOut.key, s.id, table, s.idHash === hintOf(stickyOut.key) ? 0 : Date.now());
      break;
    default:
      record(up.name, stickyOut.key, s.id, table, Date.now());
  }
  return s;
}

/** stickyMoved records that a retry moved the session to another server. */
export function stickyMoved(up: Upstream, key: string, to: ServerState): void {
  if (key !== '') record(up.name, key, to.id, tableOf(up.name), Date.now());
}

const HINT_DIGITS = 9; // 2^32 in base 36 has at most 7 digits; padded to a fixed width

/** a session id: 22 random base64url characters, ".", the server hint (fixed width: 32 in all) */
function newSessionId(s: ServerState): string {
  return randomBytes(16).toString('base64url') + '.' + s.idHash.toString(36).padStart(HINT_DIGITS, '0');
}

function isSessionId(key: string): boolean {
  return key.length === 32 && key.charCodeAt(22) === 46;
}

function hintOf(key: string): number {
  return parseInt(key.slice(23), 36);
}

function byHint(up: Upstream, key: string): ServerState | undefined {
  const h = hintOf(key);
  for (const s of up.servers) if (s.idHash === h) return s;
  return undefined;
}

/** record sets a session in this worker's table and reports it; decided: when it was decided (epoch ms; 0: a decision repeated) */
function record(upstream: string, key: string, id: string, table: Map<string, string>, decided: number): void {
  table.set(key, id);
  created.push([upstream, key, id, decided]);
}

function touch(upstream: string, key: string): void {
  let t = touched.get(upstream);
  if (t === undefined) touched.set(upstream, (t = new Set()));
  t.add(key);
}

/** installSticky registers the state handler and reporters (once per worker). */
export function installSticky(): void {
  onState('sticky', (d) => {
    if (d.full) tables.clear();
    for (const [name, key, id] of d.entries) {
      if (id === '') tables.get(name)?.delete(key);
      else tableOf(name).set(key, id);
    }
  });
  addReporter('sticky', () => {
    if (created.length === 0) return undefined;
    const out = created;
    created = [];
    return out;
  });
  addReporter('stickyTouch', () => {
    if (touched.size === 0) return undefined;
    const out: Record<string, string[]> = {};
    for (const [name, set] of touched) out[name] = [...set];
    touched.clear();
    return out;
  });
}
