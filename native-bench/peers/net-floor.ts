/**
 * native-bench's `net-floor` target: the least a proxy built on fulcrum's own engine can cost.
 * fulcrum's HTTP/1.1 engine in front (src/worker/engine/: parser, connection, exchange, exactly as
 * the proxy gets them) and one keep-alive node:net connection per request in flight, with nothing
 * else: no routing, no limits, no metrics, no retries, no header filtering, a response "parser"
 * that only finds the end of the head and Content-Length. The counterpart of `uws-floor` (same
 * relay, uWS front), so that the two fronts can be compared in one run. Not a usable proxy.
 *
 * The relay does what the issue asks of the real one: response pieces are written to the client
 * straight from the shared upstream read buffer; when the client socket does not take them at
 * once (write() returns false, the engine keeps references), that buffer is retired (the next
 * reads go to a new one) and the upstream socket pauses until the client drains.
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
let shared: Buffer = Buffer.allocUnsafe(READ_BYTES);
const nextBuffer = () => shared;
/** read buffers the client has finished writing from, for reuse (no malloc, no page faults per retire) */
const spare: Buffer[] = [];
/** where request body pieces are copied before they go upstream (see Relay.onClientBody) */
let scratch: Buffer = Buffer.allocUnsafe(READ_BYTES);
const HEAD_END = Buffer.from('\r\n\r\n');
const idle: Upstream[] = [];

/** Upstream is one keep-alive connection to the backend, serving one exchange at a time. */
class Upstream {
  readonly sock: net.Socket;
  relay: Relay | null = null;
  /** body bytes still to relay after the head */
  left = 0;
  private n = 0;
  private buf: Buffer = shared;

  constructor() {
    this.sock = net.connect({
      port: backendPort,
      host: '127.0.0.1',
      noDelay: true,
      onread: { buffer: nextBuffer, callback: (n: number, b: Uint8Array) => this.onRead(n, b as Buffer) },
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
    if (piece > 0 && !ex.write(b, start, start + piece)) {
      // the client holds references into this buffer until it drains: read into another one
      r.retire(b);
      shared = spare.pop() ?? Buffer.allocUnsafe(READ_BYTES);
      this.sock.pause();
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
    if (n > scratch.length) {
      up.sock.write(Buffer.copyBytesFrom(buf, start, n));
      return;
    }
    buf.copy(scratch, 0, start, end);
    up.sock.write(scratch.subarray(0, n));
    if (up.sock.writableLength !== 0) scratch = Buffer.allocUnsafe(READ_BYTES); // still referenced: never overwrite it
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
