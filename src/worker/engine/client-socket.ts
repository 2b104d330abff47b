/**
 * ClientSocket is the socket side of one HTTP/1.x client connection, which Http1Connection
 * (connection.ts, the protocol side: parsing, ordering, persistence, timeouts) extends: the
 * socket's listeners, the writes and who waits for them to drain.
 *
 * Per connection nothing is allocated for the listeners: every socket gets the same functions,
 * which find their connection through a property of the socket (node calls socket listeners and
 * the `onread` callback with the socket as `this`). Plain sockets made by the listener read into
 * one buffer per worker (listener.ts, readIntoSharedBuffer) and get no 'data' listener at all
 * (they never emit 'data'; adding one would only schedule a resume per connection); TLS sockets
 * and sniffed h2c ones use node's own reads and 'data'.
 *
 * Writes never copy: node:net writes from the caller's memory, synchronously when the kernel
 * takes everything. Writes carry no callback: node schedules nothing after a write the kernel took
 * at once without one (with one, a tick and an object per write). An exchange whose write left
 * bytes in the socket waits (waitWritable): an empty write with the connection's one callback is
 * queued behind those bytes, and once the socket holds nothing the waiters are told
 * (onClientWritable).
 */
import type net from 'node:net';
import type { Http1Exchange } from './http1-exchange.js';

const CONNECTION = Symbol('fulcrum.connection');
const EMPTY = Buffer.alloc(0);

interface OwnedSocket extends net.Socket {
  [CONNECTION]?: ClientSocket | null;
}

export abstract class ClientSocket {
  corkDepth = 0;
  /** exchanges whose last write() returned false: told when the socket has written everything */
  private readonly waiters: Http1Exchange[] = [];
  /** the callback of the empty write queued behind the socket's bytes (arm) */
  private readonly onWritten: () => void;
  /** an empty write with onWritten is queued */
  private armed = false;

  constructor(
    readonly socket: net.Socket,
    readonly secure: boolean,
    /** the socket reads into the worker's shared buffer (onRead), not through 'data' events */
    sharedReads: boolean,
  ) {
    this.onWritten = () => this.written();
    (socket as OwnedSocket)[CONNECTION] = this;
    if (!sharedReads) socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  /** a read into the worker's shared buffer: `buf` is valid only during the call */
  abstract onRead(n: number, buf: Buffer): boolean;
  abstract onData(buf: Buffer): void;
  abstract onEnd(): void;
  abstract onError(err: NodeJS.ErrnoException): void;
  abstract onClose(): void;
  protected abstract handlerThrew(ex: Http1Exchange, err: unknown): void;

  /** waitWritable: `ex` wrote and the socket still holds bytes; it is told once the socket holds none. */
  waitWritable(ex: Http1Exchange): void {
    if (!this.waiters.includes(ex)) this.waiters.push(ex);
    this.arm();
  }

  /** writeParts sends strings and buffers in one send (a head with Buffer field values). */
  writeParts(parts: (string | Buffer)[], last: Buffer | null): void {
    const s = this.socket;
    s.cork();
    for (let i = 0; i < parts.length; i++) s.write(parts[i]!);
    if (last !== null) s.write(last);
    s.uncork();
  }

  /** forgetWaiters: the socket is gone, nobody is told any more */
  protected forgetWaiters(): void {
    this.waiters.length = 0;
  }

  /**
   * unlisten removes this connection's listeners (the socket is handed over); errors are ignored
   * until the new owner listens. Shared reads still come to onRead, which passes them on.
   */
  protected unlisten(): void {
    const s = this.socket;
    s.removeListener('data', onData);
    s.removeListener('end', onEnd);
    s.removeListener('error', onError);
    s.removeListener('close', onClose);
    s.on('error', ignore);
  }

  /** arm queues an empty write whose callback (written) runs once the bytes before it are written. */
  private arm(): void {
    const s = this.socket;
    if (this.armed || s.destroyed) return; // a destroyed socket's waiters are forgotten when it closes
    this.armed = true;
    // an ended socket takes no write: 'finish' comes once everything is written
    if (s.writableEnded) s.once('finish', this.onWritten);
    else s.write(EMPTY, this.onWritten);
  }

  /**
   * written runs after the empty write: once the socket holds nothing, the exchanges that were told
   * "false" may reuse their bytes (even after their response ended: they may recycle the buffer).
   */
  private written(): void {
    this.armed = false;
    if (this.waiters.length === 0) return;
    if (this.socket.writableLength !== 0) {
      this.arm(); // written after the empty write: wait for those too
      return;
    }
    const ws = this.waiters.splice(0); // a handler may write (and wait) again from here
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      const h = w.handler;
      if (h === null || w.cut) continue;
      try {
        h.onClientWritable();
      } catch (err) {
        this.handlerThrew(w, err);
      }
    }
  }
}

/** sharedReadOption: the `onread` option of a plain client socket reading into `buffer` (one per worker). */
export function sharedReadOption(buffer: Buffer): { buffer: Buffer; callback: (n: number, buf: Uint8Array) => boolean } {
  return { buffer, callback: onSharedRead };
}

// The listeners, the same for every socket: `this` is the socket.

function onSharedRead(this: OwnedSocket, n: number, buf: Uint8Array): boolean {
  const c = this[CONNECTION];
  // not adopted (cannot happen: reads start after the constructor): stop reading
  return c == null ? false : c.onRead(n, buf as Buffer);
}

function onData(this: OwnedSocket, buf: Buffer): void {
  this[CONNECTION]?.onData(buf);
}

function onEnd(this: OwnedSocket): void {
  this[CONNECTION]?.onEnd();
}

function onError(this: OwnedSocket, err: NodeJS.ErrnoException): void {
  this[CONNECTION]?.onError(err);
}

function onClose(this: OwnedSocket): void {
  this[CONNECTION]?.onClose();
}

function ignore(): void {}
