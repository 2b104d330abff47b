/**
 * The uWS WebSocket front: the behaviour of the listener's `ws('/*')` route (message size, idle
 * pings, the relay's event handlers) and the upgrade handler, which runs the worker's edge checks
 * (WsGate) and starts a WsRelay (ws-proxy.ts) for what they admit.
 */
import type { SocketContext } from '../../uws.js';
import type { ClientPeer } from '../engine/exchange.js';
import type { UwsWebSocketFront } from '../engine/uws-engine.js';
import type { UwsExchange } from '../engine/uws-exchange.js';
import type { RouteTarget } from '../router.js';
import type { Upstream } from '../upstream/upstream.js';
import { WsRelay, type WebSocketSettings, type WsRuntime, type WsUserData } from './ws-proxy.js';

/** what the worker's edge checks decided for an upgrade (filled by WsGate) */
export interface WsAdmission {
  route: RouteTarget;
  upstream: Upstream;
  /** the client address counted by the per-client limit (released when the relay ends), or null */
  clientKey: ClientPeer | null;
}

/**
 * WsGate runs the worker's edge checks for an upgrade, as for an HTTP request (access lists, URL
 * limits, routing, rate limit, per-client connection limit); false when it answered the client.
 */
export type WsGate = (ex: UwsExchange, out: WsAdmission) => boolean;

/**
 * createWsFront returns the uWS WebSocket front for the listener. Message size and the client hop's
 * idle timeout are fixed when the listener starts (uWS reads them once).
 */
export function createWsFront(gate: WsGate, runtime: () => WsRuntime, settings: WebSocketSettings): UwsWebSocketFront<WsUserData> {
  const admission: WsAdmission = { route: null as unknown as RouteTarget, upstream: null as unknown as Upstream, clientKey: null };
  return {
    behavior: {
      maxPayloadLength: settings.maxMessageBytes,
      maxBackpressure: settings.maxBufferedBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: settings.idleTimeoutMs === 0 ? 0 : Math.max(8, Math.round(settings.idleTimeoutMs / 1000)),
      sendPingsAutomatically: settings.idleTimeoutMs !== 0,
      open(ws) {
        ws.getUserData().relay.onClientOpen(ws);
      },
      message(ws, message, isBinary) {
        ws.getUserData().relay.onClientMessage(message, isBinary);
      },
      drain(ws) {
        ws.getUserData().relay.onClientDrain();
      },
      close(ws, code, message) {
        ws.getUserData().relay.onClientClose(code, message);
      },
    },
    upgrade(ex: UwsExchange, context: SocketContext) {
      if (!gate(ex, admission)) return;
      const rt = runtime();
      const relay = new WsRelay(ex, rt, rt.cfg.raw.websocket, admission.route, admission.upstream);
      relay.clientKey = admission.clientKey;
      relay.start(context);
    },
  };
}
