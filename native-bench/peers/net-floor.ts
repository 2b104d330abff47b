/**
 * native-bench's `net-floor` target: the least a proxy built on fulcrum's own engine can cost.
 * fulcrum's HTTP/1.1 engine in front (src/worker/engine/: parser, connection, exchange, exactly as
 * the proxy gets them) and one keep-alive node:net connection per request in flight, with nothing
 * else: no routing, no limits, no metrics, no retries, no header filtering, a response "parser"
 * that only finds the end of the head and Content-Length. The counterpart of `uws-floor` (same
 * relay, uWS front), so that the two fronts can be compared in one run. Not a usable proxy.
 *
 * Reading: node hands each socket its next read buffer after every read (onread.buffer as a
 * function), so a buffer shared by several sockets is read into by the others while a client may
 * still be writing from it (the engine writes from the caller's memory: keepsReferences). Hence:
 * an idle socket's next read lands in one small buffer shared by all (FIRST, hot in cache), whose
 * bytes are copied before they are written (the engine itself copies pieces up to 1 KiB that
 * leave with a head; larger ones go through a warm scratch buffer); once a response needs more
 * than that read, the socket reads into a 64 KiB buffer of its own from a pool, written from by
 * reference. When the client does not take a write at once (write() returns false), that buffer
 * is retired (kept by the exchange until onClientWritable, then back to the pool), the socket
 * reads into another one and pauses until the client drains. No buffer is allocated per request.
 * Opt-in: `--targets ...,net-floor`.
 *
 *   node dist/native-bench/peers/net-floor.js <listenPort> <backendPort> [workers]
 */
import net from 'node:net';
import { ENGINE_DEFAULTS } from '../../src/worker/engine/engine-options.js';
import type { ClientExchange, ClientHandler } from '../../src/worker/engine/exchange.js';
import { Listener } from '../../src/worker/engine/listener.js';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('net-floor.js');

const READ_BYTES = 65536;
/** where an idle socket's next read lands (shared: never written from by reference) */
const FIRST = Buffer.allocUnsafe(READ_BYTES);
/** 64 KiB buffers: sockets' own read buffers and copy scratch, recycled (no malloc, no page faults per request) */
const spare: Buffer[] = [];
const take = (): Buffer => spare.pop() ?? Buffer.allocUnsafe(READ_BYTES);
/** where pieces read into FIRST (and request body pieces) are copied before they are written */
let scratch: Buffer = take();
const HEAD_END = Buffer.from('\r\n\r\n');
const idle: Upstream[] = [];

/** Upstream is one keep-alive connection to the backend, serving one exchange at a time. */
class Upstream {
  readonly sock: net.Socket;
  relay: Relay | null = null;
  /** body bytes still to relay after the head */
  left = 0;
  private n = 0;
  /** the buffer this socket reads into next (node asks for it after every read) */
  private next: Buffer = FIRST;
  /** this socket's own read buffer while a response spans reads (null: idle, reading into FIRST) */
  private own: Buffer | null = null;
  private buf: Buffer = FIRST;

  constructor() {
    this.sock = net.connect({
      port: backendPort,
      host: '127.0.0.1',
      noDelay: true,
      onread: { buffer: () => this.next, callback: (n: number, b: Uint8Array) => this.onRead(n, b as Buffer) },
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => this.relay?.ex.abort());
  }

  start(ex: ClientExchange): void {
    const r = new Relay(ex, this);
    this.relay = r;
    const len = ex.bodyLength;
    this.sock.write(
      `${ex.method} ${ex.target} HTTP/1.1\r\nhost: ${ex.field('host')}\r\nx-forwarded-for: ${ex.peer.ip}\r\n${len > 0 ? 'content-length: ' + len + '\r\n' : ''}\r\n`,
    );
    if (len > 0) ex.readBody();
  }

  private onRead(n: number, b: Buffer): boolean {
    this.n = n;
    this.buf = b;
    const r = this.relay;
    if (r === null) return false;
    r.ex.cork(this.relay1);
    // the next read: FIRST when idle, else this socket's own buffer
    if (this.relay === null) {
      if (this.own !== null) spare.push(this.own);
      this.own = null;
      this.next = FIRST;
    } else {
      this.own ??= take();
      this.next = this.own;
    }
    return true;
  }

  /** relay1 writes one read to the client (inside the exchange's cork: head and body leave together) */
  private readonly relay1 = (): void => {
    const r = this.relay!;
    const ex = r.ex;
    const b = this.buf;
    const n = this.n;
    let start = 0;
    if (this.left === 0) {
      // a new response: its head is in this read (small heads, loopback)
      const he = b.indexOf(HEAD_END);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(b.toString('latin1', 0, he));
      this.left = cl ? Number(cl[1]) : 0;
      ex.writeStatus(Number(b.toString('latin1', 9, 12)), b.toString('latin1', 13, b.indexOf(13, 12)));
      ex.endHead(this.left, false);
      start = he + 4;
    }
    const piece = Math.min(n - start, this.left);
    this.left -= piece;
    if (piece > 0) {
      if (b === FIRST && piece > 1024) {
        // FIRST is read into by every idle socket: write a copy (pieces up to 1 KiB leave copied with the head)
        b.copy(scratch, 0, start, start + piece);
        if (!ex.write(scratch, 0, piece)) {
          r.retire(scratch);
          scratch = take();
          this.sock.pause();
        }
      } else if (!ex.write(b, start, start + piece)) {
        // the client holds references into this socket's buffer until it drains: read into another one
        if (b !== FIRST) {
          r.retire(b);
          this.own = null;
        }
        this.sock.pause();
      }
    }
    if (this.left === 0) {
      ex.end();
      this.relay = null;
      r.up = null;
      if (this.sock.isPaused()) this.sock.resume(); // the retired buffer is set aside: the next response reads into another
      idle.push(this);
    }
  };
}

/** Relay is one exchange's client side: it keeps the read buffers its client still writes from. */
class Relay implements ClientHandler {
  private retired: Buffer[] | null = null;

  constructor(
    readonly ex: ClientExchange,
    public up: Upstream | null,
  ) {
    ex.handler = this;
  }

  retire(b: Buffer): void {
    (this.retired ??= []).push(b);
  }

  onClientBody(buf: Buffer, start: number, end: number): void {
    // The piece lives in the engine's read buffer, valid only during this call: copy it, as
    // uws-floor copies uWS's, but into a scratch buffer that stays warm. A fresh allocation per
    // piece (Buffer.from) page-faults: 0.8-1.7 faults and +40 us per POST 16 KiB measured here.
    // The scratch is reused when the socket took the bytes at once, the common case.
    const up = this.up;
    const n = end - start;
    if (up === null || n === 0) return;
    buf.copy(scratch, 0, start, end); // n <= the engine's 64 KiB read
    up.sock.write(scratch.subarray(0, n));
    if (up.sock.writableLength !== 0) scratch = take(); // still referenced: never overwrite it (it is not recycled)
  }

  onClientWritable(): void {
    if (this.retired !== null) {
      for (const b of this.retired) spare.push(b);
      this.retired = null;
    }
    this.up?.sock.resume();
  }

  onClientAborted(): void {
    const up = this.up;
    this.up = null;
    up?.sock.destroy(); // never reused: its response would have nowhere to go
  }
}

serve(workers, async () => {
  const listener = new Listener({
    host: '127.0.0.1',
    port,
    options: ENGINE_DEFAULTS,
    handler: (ex) => (idle.pop() ?? new Upstream()).start(ex),
  });
  await listener.listen();
});
