/**
 * native-bench's `h2-floor` target: the least an HTTP/2 front built on node:http2 can cost, for
 * the h2 workloads only. A bare `http2.createSecureServer` (ALPN h2, the run's certificate, the
 * same 128 concurrent streams fulcrum allows) and one keep-alive node:net connection to the
 * backend per stream in flight, with nothing else: no routing, no limits, no metrics, no retries,
 * no header mapping beyond status and Content-Length, a response "parser" that only finds the end
 * of the head and Content-Length. Each stream answers with node:http2's own `respond` and writes
 * the backend's read buffers by reference (./h1-relay.ts: node allocates each read; nothing is
 * copied here).
 * It is there to show, in the same run as fulcrum's HTTP/2 and nginx's, how much of fulcrum's cost
 * is node:http2 itself (RFC 9113 framing, HPACK, flow control, TLS and the Duplex per stream) and
 * how much is fulcrum's own work. Not a usable proxy. Opt-in: `--targets ...,h2-floor`.
 *
 *   node dist/native-bench/peers/h2-floor.js <tlsPort> <backendPort> 1 <cert.pem> <key.pem>
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { type RelaySink, type Upstream, upstreams } from './h1-relay.js';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('h2-floor.js');
const [certFile, keyFile] = process.argv.slice(5);
if (!certFile || !keyFile) {
  process.stderr.write('usage: h2-floor.js <tlsPort> <backendPort> <workers> <cert.pem> <key.pem>\n');
  process.exit(2);
}

const pool = upstreams(backendPort);

/** StreamSink relays one response into a node:http2 stream. */
class StreamSink implements RelaySink {
  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly up: Upstream,
  ) {
    stream.on('close', () => {
      if (this.open) up.abandon(); // closed before its response ended: that response has nowhere to go
    });
  }

  /** the response has not ended yet */
  private open = true;

  respond(status: number, length: number): void {
    if (length === 0) this.open = false;
    if (!this.stream.destroyed) this.stream.respond({ ':status': status, 'content-length': length }, { endStream: length === 0 });
  }

  data(piece: Buffer, last: boolean): boolean {
    const stream = this.stream;
    if (last) this.open = false;
    if (stream.destroyed) return true;
    const more = stream.write(piece);
    if (last) stream.end();
    else if (!more) stream.once('drain', () => this.up.resume());
    return more;
  }

  fail(): void {
    this.open = false;
    this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
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
    const up = pool.take();
    up.start(new StreamSink(stream, up), 'GET', String(headers[':path']), String(headers[':authority'] ?? '127.0.0.1'));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});
