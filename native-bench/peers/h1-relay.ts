/**
 * The minimal HTTP/1.1 keep-alive relay behind native-bench's HTTP/2 floors (h2-floor,
 * h2own-floor): one node:net connection to the backend per request in flight, a request head of
 * method, target and Host, and a response "parser" that only finds the end of the head and
 * Content-Length (small heads on loopback arrive whole in the first read). Each read is allocated
 * by node, so a sink may keep the pieces it is given (HTTP/2 DATA written later) without a copy.
 * Not a usable client: it trusts the backend completely and relays only Content-Length bodies.
 */
import net from 'node:net';

/** RelaySink is where one response goes. */
export interface RelaySink {
  /** the response head: status and Content-Length */
  respond(status: number, length: number): void;
  /** a body piece (the sink may keep it); false: the relay pauses until resume() */
  data(piece: Buffer, last: boolean): boolean;
  /** the backend closed the connection before the response ended */
  fail(): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Upstream is one keep-alive connection to the backend, serving one sink at a time. */
export class Upstream {
  private readonly sock: net.Socket;
  private sink: RelaySink | null = null;
  /** body bytes still to relay after the head */
  private left = 0;

  constructor(
    port: number,
    private readonly idle: Upstream[],
  ) {
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.on('data', (b: Buffer) => this.onRead(b));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      // the backend closes idle keep-alive connections (uWS after 10 s): never hand this one out again
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      const sink = this.sink;
      this.sink = null;
      sink?.fail();
    });
  }

  start(sink: RelaySink, method: string, path: string, authority: string): void {
    this.sink = sink;
    this.sock.write(`${method} ${path} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  }

  /** resume reads after the sink returned false from data() and has room again */
  resume(): void {
    if (this.sock.isPaused()) this.sock.resume();
  }

  /** abandon drops the connection: its sink went away mid-response, which would have nowhere to go */
  abandon(): void {
    this.sink = null;
    this.sock.destroy();
  }

  private onRead(b: Buffer): void {
    const sink = this.sink;
    if (sink === null) return;
    let start = 0;
    if (this.left === 0) {
      const he = b.indexOf(HEAD_END);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(b.toString('latin1', 0, he));
      this.left = cl ? Number(cl[1]) : 0;
      sink.respond(Number(b.toString('latin1', 9, 12)), this.left);
      start = he + 4;
    }
    const piece = Math.min(b.length - start, this.left);
    this.left -= piece;
    if (piece > 0 && !sink.data(start === 0 && piece === b.length ? b : b.subarray(start, start + piece), this.left === 0) && this.left > 0) {
      this.sock.pause();
    }
    if (this.left === 0) {
      this.sink = null;
      this.resume(); // the sink keeps what it was given; the next response reads on
      this.idle.push(this);
    }
  }
}

/** upstreams returns the pool of one backend: take() hands out an idle connection or opens one. */
export function upstreams(port: number): { take(): Upstream } {
  const idle: Upstream[] = [];
  return { take: () => idle.pop() ?? new Upstream(port, idle) };
}
