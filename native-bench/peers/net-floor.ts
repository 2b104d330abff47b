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
let shared = Buffer.allocUnsafe(READ_BYTES);
const nextBuffer = () => shared;
const HEAD_END = Buffer.from('\r\n\r\n');
const idle: Upstream[] = [];

/** Upstream is one keep-alive connection to the backend, serving one exchange at a time. */
class Upstream implements ClientHandler {
  readonly sock: net.Socket;
  ex: ClientExchange | null = null;
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
    this.sock.on('close', () => this.ex?.abort());
  }

  start(ex: ClientExchange): void {
    this.ex = ex;
    ex.handler = this;
    const len = ex.bodyLength;
    this.sock.write(
      `${ex.method} ${ex.target} HTTP/1.1\r\nhost: ${ex.field('host')}\r\nx-forwarded-for: ${ex.peer.ip}\r\n${len > 0 ? 'content-length: ' + len + '\r\n' : ''}\r\n`,
    );
    if (len > 0) ex.readBody();
  }

  private onRead(n: number, b: Buffer): boolean {
    this.n = n;
    this.buf = b;
    const ex = this.ex;
    if (ex === null) return false;
    ex.cork(this.relay);
    return true;
  }

  /** relay writes one read to the client (inside the exchange's cork: head and body leave together) */
  private readonly relay = (): void => {
    const ex = this.ex!;
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
    const ok = piece > 0 ? ex.write(b, start, start + piece) : true;
    if (!ok) {
      // the client holds references into this buffer until it drains: read into a new one
      shared = Buffer.allocUnsafe(READ_BYTES);
      this.sock.pause();
    }
    if (this.left === 0) {
      ex.end();
      this.ex = null;
      if (!ok) this.sock.resume(); // the response is complete: the next one reads into the new buffer
      idle.push(this);
    }
  };

  onClientBody(buf: Buffer, start: number, end: number): void {
    // the piece lives in the engine's shared read buffer: copy it, as uws-floor copies uWS's
    if (end > start) this.sock.write(Buffer.from(buf.subarray(start, end)));
  }

  onClientWritable(): void {
    this.sock.resume();
  }

  onClientAborted(): void {
    this.ex = null;
    this.sock.destroy(); // never reused: its response would have nowhere to go
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
