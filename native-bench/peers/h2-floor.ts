/**
 * native-bench's `h2-floor` target: the least an HTTP/2 front built on node:http2 can cost, for
 * the h2 workloads only. A bare `http2.createSecureServer` (ALPN h2, the run's certificate, the
 * same 128 concurrent streams fulcrum allows) and one keep-alive node:net connection to the
 * backend per stream in flight, with nothing else: no routing, no limits, no metrics, no retries,
 * no header mapping beyond status and Content-Length, a response "parser" that only finds the end
 * of the head and Content-Length. Each stream answers with node:http2's own `respond` and writes
 * the backend's read buffers by reference (node allocates each read; nothing is copied here).
 * It is there to show, in the same run as fulcrum's HTTP/2 and nginx's, how much of fulcrum's cost
 * is node:http2 itself (RFC 9113 framing, HPACK, flow control, TLS and the Duplex per stream) and
 * how much is fulcrum's own work. Not a usable proxy. Opt-in: `--targets ...,h2-floor`.
 *
 *   node dist/native-bench/peers/h2-floor.js <tlsPort> <backendPort> 1 <cert.pem> <key.pem>
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('h2-floor.js');
const [certFile, keyFile] = process.argv.slice(5);
if (!certFile || !keyFile) {
  process.stderr.write('usage: h2-floor.js <tlsPort> <backendPort> <workers> <cert.pem> <key.pem>\n');
  process.exit(2);
}

const HEAD_END = Buffer.from('\r\n\r\n');
const idle: Upstream[] = [];

/** Upstream is one keep-alive connection to the backend, serving one stream at a time. */
class Upstream {
  readonly sock: net.Socket;
  stream: http2.ServerHttp2Stream | null = null;
  /** body bytes still to relay after the head */
  private left = 0;

  constructor() {
    this.sock = net.connect({ port: backendPort, host: '127.0.0.1', noDelay: true });
    this.sock.on('data', (b: Buffer) => this.onRead(b));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      // the backend closes idle keep-alive connections (uWS after 10 s): never hand this one out again
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      this.stream?.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
  }

  start(stream: http2.ServerHttp2Stream, path: string, authority: string): void {
    this.stream = stream;
    stream.on('close', () => {
      if (this.stream === stream && this.left > 0) this.sock.destroy(); // its response has nowhere to go
    });
    this.sock.write(`GET ${path} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  }

  private onRead(b: Buffer): void {
    const stream = this.stream;
    if (stream === null) return;
    let start = 0;
    if (this.left === 0) {
      // a new response: its head is in this read (small heads, loopback)
      const he = b.indexOf(HEAD_END);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(b.toString('latin1', 0, he));
      this.left = cl ? Number(cl[1]) : 0;
      if (!stream.destroyed) stream.respond({ ':status': Number(b.toString('latin1', 9, 12)), 'content-length': this.left });
      start = he + 4;
    }
    const piece = Math.min(b.length - start, this.left);
    this.left -= piece;
    if (piece > 0 && !stream.destroyed && !stream.write(start === 0 && piece === b.length ? b : b.subarray(start, start + piece))) {
      this.sock.pause();
      stream.once('drain', () => this.sock.resume());
    }
    if (this.left === 0) {
      // node allocated this read: the stream may keep it, and this socket may read on for the next response
      if (this.sock.isPaused()) this.sock.resume();
      if (!stream.destroyed) stream.end();
      this.stream = null;
      idle.push(this);
    }
  }
}

serve(workers, async () => {
  const server = http2.createSecureServer({
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    settings: { maxConcurrentStreams: 128 },
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    (idle.pop() ?? new Upstream()).start(stream, String(headers[':path']), String(headers[':authority'] ?? '127.0.0.1'));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});
