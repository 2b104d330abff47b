/**
 * More than one descriptor per listening socket, so that a busy worker accepts more than one
 * connection per event-loop iteration.
 *
 * Why: since libuv 1.45 (node 20 and later) a listening handle accepts one connection each time
 * its descriptor polls ready, then goes back to the loop (libuv PR #3696, "don't accept() in a
 * loop"; node's regression report nodejs/performance#95). One iteration of a busy worker serves
 * every ready socket first, so a worker at full load with 1,000 keep-alive clients took ~60 ms per
 * iteration and accepted ~20-40 connections a second: in native-bench's get-100b-1000c, 300 of
 * the 1,000 connections were still in the kernel's accept queue seconds after they connected
 * (`ss -tln`: Recv-Q of the listening socket; strace: one accept4 per epoll_wait), which was the
 * p99 of 2 s. nginx and uWS accept in a loop.
 *
 * How: node:cluster gives each worker its own descriptor of the shared listening socket (passed
 * over the IPC channel). The worker sends that handle to the primary, which sends it back
 * ACCEPT_COPIES times (src/primary/listen-copies.ts); each copy is one more descriptor of the same
 * socket, listened on in this loop, so a ready socket gets ACCEPT_COPIES + 1 accepts per iteration.
 * The copies listen only while connections queue up: each descriptor polls ready for every
 * connection, so with one connection waiting the other descriptors' accept calls find the queue
 * empty (EAGAIN: ~2-3 us each on this machine, 63 of them per lone connection). So the copies are
 * held unlistened (a descriptor costs nothing until it is polled) and listened on once the
 * listening socket had a connection to accept in ACTIVATE_STREAK event-loop iterations in a row
 * (it was backed up); they are closed again (and fresh ones asked for) once THIN_STREAK
 * iterations in a row accepted fewer than THIN_ACCEPTS connections (most calls were wasted).
 * The price of asking again: node's IPC sends one handle per message and waits for the worker's
 * acknowledgement before the next message, so while the 63 copies travel (one worker loop turn
 * each, well under a second unless the worker is saturated) the primary's other messages to this
 * worker (health, sessions, rate-limit shares) wait behind them.
 */
import type net from 'node:net';
import { sendMsgWithHandle } from '../../ipc.js';
import { log } from '../../log.js';

/** extra descriptors per listening socket: up to ACCEPT_COPIES + 1 accepts per iteration while backed up */
const ACCEPT_COPIES = 63;
/** consecutive iterations with a connection accepted (one descriptor: one a turn) before the copies listen */
const ACTIVATE_STREAK = 4;
/** while the copies listen: an iteration that accepted fewer than this is thin (most accept calls found nothing) */
const THIN_ACCEPTS = 16;
/** consecutive thin iterations (or connection arrivals) before the copies are closed */
const THIN_STREAK = 8;

/** What node hands over for a raw TCP handle (private, as node:cluster's child uses it). */
export interface RawListenHandle {
  onconnection: ((err: number, handle: unknown) => void) | null;
  listen(backlog: number): number;
  close(): void;
}

const wanted = new Map<string, (h: RawListenHandle) => void>();
let seq = 0;

/** receiveCopy takes one copy the primary sent (ListenCopyMsg). */
export function receiveCopy(key: string, handle: unknown): void {
  const h = handle as RawListenHandle | undefined;
  if (typeof h?.listen !== 'function') return;
  const take = wanted.get(key);
  if (take === undefined) h.close();
  else take(h);
}

/** AcceptCopies holds one listening socket's copies and listens on them while it is backed up. */
export class AcceptCopies {
  private readonly key = `${++seq}`;
  private readonly spare: RawListenHandle[] = [];
  private readonly active: RawListenHandle[] = [];
  /** connections accepted in the current event-loop iteration (counted until probe runs) */
  private acceptedNow = 0;
  private probing = false;
  private streak = 0;
  private thin = 0;
  private closed = false;
  private readonly probe = (): void => this.endOfIteration();

  /**
   * server: listening; onconnection: the accept path every descriptor uses. Without a primary
   * (the engine run in-process) or a handle, it does nothing.
   */
  constructor(
    private readonly server: net.Server,
    private readonly onconnection: (err: number, handle: unknown) => void,
    private readonly backlog: number,
  ) {
    wanted.set(this.key, (h) => this.take(h));
    this.ask();
  }

  /** accepted counts one accepted connection (on any descriptor). */
  accepted(): void {
    this.acceptedNow++;
    if (!this.probing) {
      this.probing = true;
      setImmediate(this.probe);
    }
  }

  close(): void {
    this.closed = true;
    wanted.delete(this.key);
    for (const h of this.spare.splice(0)) h.close();
    for (const h of this.active.splice(0)) h.close();
  }

  private ask(): void {
    const h = (this.server as unknown as { _handle?: object | null })._handle;
    if (typeof process.send !== 'function' || h === undefined || h === null) return;
    sendMsgWithHandle(process, { type: 'listen-copies', key: this.key, count: ACCEPT_COPIES }, h, () => {});
  }

  private take(h: RawListenHandle): void {
    if (this.closed || !this.server.listening) h.close();
    else this.spare.push(h);
  }

  /** endOfIteration runs in the check phase of an iteration that accepted, and of the next ones while they do. */
  private endOfIteration(): void {
    const n = this.acceptedNow;
    this.acceptedNow = 0;
    if (n > 0)
      setImmediate(this.probe); // the next iteration's
    else this.probing = false;
    if (this.active.length === 0) {
      this.streak = n > 0 ? this.streak + 1 : 0;
      if (this.streak >= ACTIVATE_STREAK && this.spare.length > 0) this.activate();
    } else {
      this.thin = n < THIN_ACCEPTS ? this.thin + 1 : 0;
      if (this.thin >= THIN_STREAK) this.deactivate();
    }
  }

  private activate(): void {
    this.streak = this.thin = 0;
    for (const h of this.spare.splice(0)) {
      h.onconnection = this.onconnection;
      if (h.listen(this.backlog) === 0) this.active.push(h);
      else h.close();
    }
    log.debug('listening socket backed up: accepting on more descriptors', { descriptors: this.active.length + 1 });
  }

  /** deactivate closes the listening copies (a descriptor cannot stop being polled otherwise) and asks for fresh ones. */
  private deactivate(): void {
    this.streak = this.thin = 0;
    for (const h of this.active.splice(0)) h.close();
    if (this.spare.length === 0) this.ask();
    log.debug('listening socket caught up: accepting on one descriptor');
  }
}
