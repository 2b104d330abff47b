/**
 * sniffPreface tells h2c with prior knowledge (RFC 9113 3.3) from HTTP/1.x on a plain listener
 * (listen.h2c): a connection whose first 24 bytes are the HTTP/2 connection preface
 * "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 3.4) goes to HTTP/2, any other to the HTTP/1.1 engine.
 * The decision is taken at the first byte that differs from the preface, so an HTTP/1.x request
 * waits for nothing ("PRI" is no method a client sends). The bytes read are put back (unshift)
 * for whoever takes the socket: node:http2 reads what is buffered on the socket before its own
 * reads (lib/internal/http2/core.js, "Socket already has some buffered data"), the HTTP/1.1
 * engine gets them as its first 'data'.
 *
 * Only with listen.h2c: without it, plain connections are never sniffed (and read into the
 * worker's shared buffer). The preface must arrive within timeouts.headerMs, as a first request
 * head must (counted as a "header" timeout).
 */
import type net from 'node:net';
import { countTimeout, now, type Timed, track, untrack, Wait } from './timeouts.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** sniffPreface hands `socket` to `h2` or `http1` once its first bytes tell which (see above). */
export function sniffPreface(socket: net.Socket, headerMs: number, h2: (s: net.Socket) => void, http1: (s: net.Socket) => void): void {
  new PrefaceSniff(socket, now() + headerMs, h2, http1);
}

class PrefaceSniff implements Timed {
  wait = Wait.Head;
  slot = -1;
  private got: Buffer | null = null;
  private readonly onData = (b: Buffer) => this.data(b);
  private readonly onGone = () => this.stop();

  constructor(
    private readonly socket: net.Socket,
    public deadline: number,
    private readonly h2: (s: net.Socket) => void,
    private readonly http1: (s: net.Socket) => void,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onGone);
    socket.on('close', this.onGone);
    track(this);
  }

  private data(b: Buffer): void {
    const got = this.got === null ? b : Buffer.concat([this.got, b]);
    const n = Math.min(got.length, PREFACE.length);
    const same = got.compare(PREFACE, 0, n, 0, n) === 0;
    if (same && n < PREFACE.length) {
      this.got = got; // a prefix of the preface so far: wait for more
      return;
    }
    const s = this.socket;
    this.stop();
    s.pause();
    s.unshift(got);
    if (same) this.h2(s);
    else {
      this.http1(s);
      s.resume();
    }
  }

  /** stop: decided, or the socket is gone. */
  private stop(): void {
    this.wait = Wait.None;
    untrack(this);
    this.got = null;
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('error', this.onGone);
    this.socket.removeListener('close', this.onGone);
  }

  expire(): void {
    this.stop();
    countTimeout(Wait.Head);
    this.socket.destroy();
  }
}
