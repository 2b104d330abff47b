/**
 * WebSocket closes (RFC 6455 7.4): which close codes may be relayed in a close frame, the reason
 * uWS gives when it drops a client for a message over maxPayloadLength, and the count of closes
 * by code (fulcrum_websockets_closed_total).
 */
import { counter, type CounterChild } from '../obs/metrics.js';

const closedFamily = counter('fulcrum_websockets_closed_total', 'WebSocket connections closed, by the close code on the client hop (1006: no close frame).', [
  'code',
]);
const closedByCode = new Map<number, CounterChild>();

/** countClosed counts a close of the client hop by its code. */
export function countClosed(code: number): void {
  let c = closedByCode.get(code);
  if (c === undefined) closedByCode.set(code, (c = closedFamily.labels(String(code))));
  c.inc();
}

/** closeCodeSendable reports whether a close code may be put in a close frame (RFC 6455 7.4). */
export function closeCodeSendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** the reason uWS gives when it drops a client for a message over maxPayloadLength */
const UWS_TOO_BIG = Buffer.from('Received too big message');

/** isTooBig: is this close reason uWS's for a message over maxPayloadLength? */
export function isTooBig(message: ArrayBuffer): boolean {
  return message.byteLength === UWS_TOO_BIG.length && UWS_TOO_BIG.equals(new Uint8Array(message));
}
