/**
 * The server pick, one sequence for HTTP requests (ProxyRequest) and WebSocket upgrades
 * (ws/ws-proxy.ts): the "hash" policy's key, the sticky session (cookie or client address), the
 * upstream's policy over its available primaries, its backups when no primary is available
 * (nginx's `backup`), and the maxConnections queue when every available server is full.
 *
 * The selection's state lives in the caller (it implements Selection), so a pick allocates
 * nothing: the same fields serve a retry or a queued request's turn later. previewServer is the
 * same sequence as a dry run, for `fulcrum explain` (src/explain/).
 */
import type { ErrorKind } from '../../errors.js';
import type { PickContext } from '../balancer/index.js';
import { hashKeyOf, type RequestFields } from '../hash-key.js';
import { stickyDecide, stickyMoved, stickyOut, stickyPick, type SessionLookup, type StickyHow } from '../sticky.js';
import type { QueueWaiter } from '../upstream/server-queue.js';
import type { ServerState } from '../upstream/server-state.js';
import { HashKeyKind, type Upstream } from '../upstream/upstream.js';

/** Selection is what a pick decided besides the server, kept by the request for later picks. */
export interface Selection extends PickContext {
  /** the sticky session key ("" when the upstream has none) */
  stickyKey: string;
  /** the Set-Cookie value of a new cookie session ("" when none) */
  setCookie: string;
}

/**
 * selectServer picks the server for a new request and fills `sel`; undefined when there is none
 * now (see waitForServer). `queueing`: the request may wait in the maxConnections queue, so it
 * does not overtake requests already waiting there (WebSocket handshakes do not queue).
 */
export function selectServer(up: Upstream, req: RequestFields, target: string, sel: Selection, queueing: boolean): ServerState | undefined {
  startSelection(up, req, target, sel);
  if (queueing && up.queue.length !== 0) return undefined; // others wait already: queue behind them
  return pickServer(up, req, sel, stickyPick);
}

/** the sticky step of a pick: stickyPick for a request, stickyDecide over a table only read for a preview */
type StickyStep = (up: Upstream, cookieHeader: string, ctx: PickContext) => ServerState | undefined;

/** startSelection reads the request's hash key (kept for later picks: retries, a queued turn). */
function startSelection(up: Upstream, req: RequestFields, target: string, sel: Selection): void {
  sel.hashKey = up.hashKeyKind === HashKeyKind.None ? '' : hashKeyOf(req, up, target);
  sel.stickyKey = '';
  sel.setCookie = '';
}

/** pickServer is the pick of selectServer and previewServer: the sticky step when the upstream has sessions, else the policy. */
function pickServer(up: Upstream, req: RequestFields, sel: Selection, sticky: StickyStep): ServerState | undefined {
  const mode = up.spec.sticky.mode;
  if (mode === 'none') return up.pick(sel);
  const server = sticky(up, mode === 'cookie' ? req.field('cookie') : '', sel);
  sel.stickyKey = stickyOut.key;
  sel.setCookie = stickyOut.setCookie;
  return server;
}

/** What previewServer found besides the server. */
export interface Preview extends Selection {
  /** what the sticky lookup found (null: the upstream has no sticky sessions) */
  sticky: StickyHow | null;
  /** every available server was at its maxConnections (or adaptive share): the request would queue */
  allFull: boolean;
}

/**
 * previewServer is selectServer as a dry run (for `fulcrum explain`): the same hash key and pick
 * (pickServer), with the sticky lookup stickyPick acts on (stickyDecide) over `sessions` (the
 * primary's table, or none, only read) and the upstream's real policy; afterwards the policy's
 * state (the smooth round-robin weights, which a pick moves) and Upstream.allFull are put back,
 * so that nothing a request would see has changed. The maxConnections queue is not consulted (its
 * length lives in each worker). Allocates; never on the request path.
 */
export function previewServer(up: Upstream, req: RequestFields, target: string, out: Preview, sessions: SessionLookup): ServerState | undefined {
  const weights = up.servers.map((s) => s.currentWeight);
  const allFull = up.allFull;
  try {
    startSelection(up, req, target, out);
    out.sticky = null;
    const server = pickServer(up, req, out, (u, cookie, ctx) => {
      stickyOut.setCookie = ''; // decided, not created: no cookie is sent
      const s = stickyDecide(u, cookie, ctx, sessions);
      out.sticky = stickyOut.how;
      return s;
    });
    out.allFull = up.allFull;
    return server;
  } finally {
    for (let i = 0; i < weights.length; i++) up.servers[i]!.currentWeight = weights[i]!;
    up.allFull = allFull;
  }
}

/**
 * waitForServer queues a request that found no server because every available one is at its
 * maxConnections: null when it waits (QueueWaiter.onQueueTurn or onQueueTimeout follows), else
 * the failure to answer.
 */
export function waitForServer(up: Upstream, waiter: QueueWaiter): ErrorKind | null {
  const full = up.queue.length !== 0 || up.allFull;
  if (full && up.queue.add(waiter)) return null;
  return full ? 'queue-full' : 'no-server';
}

/**
 * reselect picks again for a request that has a selection already: a retry (`tried`: the servers
 * it failed on, never repeated) or a queued request's turn. A sticky session follows the request
 * to its new server.
 */
export function reselect(up: Upstream, sel: Selection, tried: readonly ServerState[] | null): ServerState | undefined {
  const next = up.pick(sel, tried);
  if (next !== undefined && sel.stickyKey !== '') stickyMoved(up, sel.stickyKey, next);
  return next;
}
