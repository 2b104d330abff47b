/**
 * HTTP/2 test clients: requests with node:http2 (the well-behaved client), and RawH2, a client
 * that writes frames itself (RFC 9113 4, 6; HPACK literals without Huffman, RFC 7541 6.2.2) for
 * what node:http2 refuses to send: connection-specific fields, endless CONTINUATION, floods of
 * PING, SETTINGS and RST_STREAM. Throwaway certificates are in certs.ts.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { Waiters } from './wait.js';

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** h2connect opens a node:http2 session (TLS without verification, or h2c for an http: URL) and waits until it is up. */
export async function h2connect(url: string, opts: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(url, { rejectUnauthorized: false, ...opts });
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
    s.once('close', () => reject(new Error('session closed before connecting')));
  });
  return s;
}

/** h2request sends one request on a session and resolves with the whole response (rejects on a stream error). */
export function h2request(s: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string, timeoutMs = 5000): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const r = s.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    const timer = setTimeout(() => {
      r.close();
      reject(new Error(`no response within ${timeoutMs} ms`));
    }, timeoutMs);
    r.on('response', (h) => (head = h));
    r.on('data', (d: Buffer) => chunks.push(d));
    r.on('end', () => {
      clearTimeout(timer);
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) });
    });
    r.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body !== undefined) r.end(body);
  });
}

// ---- raw frames ---------------------------------------------------------------------------

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const enum Frame {
  Headers = 1,
  RstStream = 3,
  Settings = 4,
  Ping = 6,
  Goaway = 7,
  Continuation = 9,
}
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** hpackInt encodes an HPACK integer with an n-bit prefix (RFC 7541 5.1). */
function hpackInt(first: number, n: number, v: number): number[] {
  const max = (1 << n) - 1;
  if (v < max) return [first | v];
  const out = [first | max];
  v -= max;
  while (v >= 128) {
    out.push((v & 127) | 128);
    v >>= 7;
  }
  out.push(v);
  return out;
}

/** hpack encodes fields as literals without indexing, new names, no Huffman (RFC 7541 6.2.2). */
export function hpack(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields) {
    const nb = Buffer.from(n, 'latin1');
    const vb = Buffer.from(v, 'latin1');
    parts.push(Buffer.from([0, ...hpackInt(0, 7, nb.length)]), nb, Buffer.from(hpackInt(0, 7, vb.length)), vb);
  }
  return Buffer.concat(parts);
}

export interface RawFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** RawH2 is one HTTP/2 connection driven frame by frame; every wait is bounded. */
export class RawH2 {
  frames: RawFrame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private readonly waits = new Waiters();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** open connects (TLS with ALPN h2 when `secure`, else h2c) and sends the preface and an empty SETTINGS (unless `greet` is false). */
  static async open(port: number, secure: boolean, greet = true): Promise<RawH2> {
    const socket = secure
      ? tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false, servername: 'localhost' })
      : net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const c = new RawH2(socket);
    if (greet) c.send(Buffer.concat([PREFACE, frame(Frame.Settings, 0, 0)]));
    return c;
  }

  send(b: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(b);
  }

  /** headers sends a request's HEADERS (END_HEADERS, END_STREAM unless `body`). */
  request(stream: number, fields: [string, string][], endStream = true): void {
    this.send(frame(Frame.Headers, END_HEADERS | (endStream ? END_STREAM : 0), stream, hpack(fields)));
  }

  /** goaway: the GOAWAY frame received, if any ({ lastStream, code }) */
  goaway(): { lastStream: number; code: number } | null {
    const g = this.frames.find((f) => f.type === Frame.Goaway);
    return g ? { lastStream: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4) } : null;
  }

  /** until resolves once `cond` holds, or rejects after timeoutMs. */
  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waits.until(cond, timeoutMs, what, () => `; frames: ${this.frames.map((f) => `${f.type}/${f.stream}`).join(' ')}`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    this.waits.wake();
  }
}

export { END_HEADERS, END_STREAM };
