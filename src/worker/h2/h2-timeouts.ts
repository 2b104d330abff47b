/**
 * The engine's timer sweep (engine/timeouts.ts) for an HTTP/2 connection, the same on both
 * implementations (h2-session.ts on node:http2, conn.ts on fulcrum's own frame layer): a
 * connection that lingers after its GOAWAY (the peer does not close within lingerMs) is
 * destroyed; one whose first stream did not come within headerMs, or that was idle for
 * keepAliveMs, is counted and logged as the HTTP/1.1 engine counts its cuts, and then closed
 * gracefully by its implementation (GOAWAY NO_ERROR, RFC 9113 6.8).
 */
import type net from 'node:net';
import { log } from '../../log.js';
import type { ClientPeer } from '../engine/exchange.js';
import { countTimeout, type Timed, Wait } from '../engine/timeouts.js';

/**
 * timedOut handles an HTTP/2 connection's expired wait: true when the caller is to send GOAWAY
 * and close (a head or keep-alive timeout, counted), false when it was done here (a lingering
 * socket destroyed).
 */
export function timedOut(c: Timed & { readonly peer: ClientPeer }, socket: net.Socket): boolean {
  const w = c.wait;
  if (w === Wait.Linger) {
    c.wait = Wait.None;
    socket.destroy();
    return false;
  }
  countTimeout(w);
  log.debug('client timeout', { ip: c.peer.ip, kind: w === Wait.Head ? 'header' : 'keep-alive', protocol: 'h2' });
  return true;
}
