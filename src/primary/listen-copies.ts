/**
 * The primary's half of the listening-socket copies (src/worker/engine/accept-copies.ts explains
 * why a worker wants them): a worker sends the handle of one of its listening sockets; the primary
 * sends it back as many times as asked (each send arrives as a new descriptor of the same socket)
 * and then closes its own, so that the primary never holds a listening socket open for longer
 * than the copies take to write, and never accepts on it.
 */
import type { Worker } from 'node:cluster';
import { type ListenCopiesMsg, sendMsgWithHandle } from '../ipc.js';

/** a worker never needs more: see ACCEPT_COPIES in the worker */
const MAX_COPIES = 64;

interface Closable {
  close(): void;
}

/** sendListenCopies answers a ListenCopiesMsg that came with `handle`. */
export function sendListenCopies(w: Worker, msg: ListenCopiesMsg, handle: unknown): void {
  const h = handle as Closable | undefined;
  if (typeof h?.close !== 'function') return;
  const count = Math.min(Math.max(Math.trunc(msg.count) || 0, 0), MAX_COPIES);
  let left = count;
  const sent = () => {
    if (--left === 0) h.close();
  };
  if (count === 0) h.close();
  for (let i = 0; i < count; i++) sendMsgWithHandle(w, { type: 'listen-copy', key: msg.key }, h, sent);
}
