/**
 * An in-process engine (src/worker/engine/listener.ts) on 127.0.0.1 with a small test handler,
 * for the engine's tests: every request is recorded (`seen`) and answered by what its path asks:
 *
 *   /stream/<n>/<size>[/<delayMs>]  n pieces of `size` bytes, length unknown (chunked / close-delimited)
 *   /length/<n>                     n bytes with Content-Length, written in pieces of up to 1000
 *   /big/<n>                        n bytes in one write (records whether it returned false, and onClientWritable)
 *   /delay/<ms>                     the JSON echo, after ms
 *   /hints                          103 Early Hints, then the echo
 *   /noread                         "ok" at once, without reading the body
 *   /status/<code>                  that status, no body
 *   /close                          the echo, asking to close the connection
 *   /upgrade                        101, then detach(): echoes the tunnel's bytes upper-cased
 *   /throw                          the handler throws
 *   /abort                          a head and 10 of 100 bytes, then abort()
 *   /pause-body                     reads the body pausing 20 ms after every piece
 *   anything else                   the JSON echo of the request (after reading its body)
 *
 * The JSON echo: { method, target, httpVersion, fields, bodyLength, body (latin1), secure, ip }.
 */
import net from 'node:net';
import { ENGINE_DEFAULTS, type EngineOptions } from '../../src/worker/engine/engine-options.js';
import { type ClientExchange, type ClientHandler, ResponseBody } from '../../src/worker/engine/exchange.js';
import { Listener, type TlsContexts } from '../../src/worker/engine/listener.js';

export interface Seen {
  method: string;
  target: string;
  httpVersion: string;
  fields: string[];
  bodyLength: number;
  body: string;
  secure: boolean;
  ip: string;
  /** events seen by the handler */
  aborted: boolean;
  writeReturnedFalse: boolean;
  writable: boolean;
  closing: boolean;
}

export interface EngineHarness {
  port: number;
  listener: Listener;
  seen: Seen[];
  close(): Promise<void>;
}

export interface HarnessOptions extends Partial<Omit<EngineOptions, 'limits'>> {
  limits?: Partial<EngineOptions['limits']>;
  tls?: TlsContexts;
  otherProtocol?: (s: net.Socket) => void;
}

export async function startEngine(o: HarnessOptions = {}): Promise<EngineHarness> {
  const seen: Seen[] = [];
  const { tls: contexts, otherProtocol, limits, ...rest } = o;
  const options: EngineOptions = { ...ENGINE_DEFAULTS, ...rest, limits: { ...ENGINE_DEFAULTS.limits, ...limits } };
  const listener = new Listener({
    host: '127.0.0.1',
    port: 0,
    options,
    tls: contexts ?? null,
    otherProtocol: otherProtocol ?? null,
    handler: (ex) => new TestHandler(ex, seen),
  });
  await listener.listen();
  return {
    port: listener.port,
    listener,
    seen,
    close: async () => {
      listener.drain();
      await listener.close();
    },
  };
}

class TestHandler implements ClientHandler {
  private readonly chunks: Buffer[] = [];
  private readonly s: Seen;
  private readonly path: string[];

  constructor(
    private readonly ex: ClientExchange,
    seen: Seen[],
  ) {
    ex.handler = this;
    this.s = {
      method: ex.method,
      target: ex.target,
      httpVersion: ex.httpVersion,
      fields: [...ex.fields],
      bodyLength: ex.bodyLength,
      body: '',
      secure: ex.secure,
      ip: ex.peer.ip,
      aborted: false,
      writeReturnedFalse: false,
      writable: false,
      closing: ex.closing,
    };
    seen.push(this.s);
    this.path = ex.target.split('?')[0]!.split('/').slice(1);
    const p = this.path;
    switch (p[0]) {
      case 'stream':
        this.stream(Number(p[1]), Number(p[2]), Number(p[3] ?? 0), 0);
        return;
      case 'length':
        this.length(Number(p[1]));
        return;
      case 'big': {
        const n = Number(p[1]);
        ex.writeStatus(200, 'OK');
        ex.endHead(n, false);
        if (!ex.write(Buffer.alloc(n, 'b'), 0, n)) this.s.writeReturnedFalse = true;
        ex.end();
        return;
      }
      case 'bighead': {
        // a head of Number(p[1]) fields of 1000 octets each (HTTP/2: a block over one frame, CONTINUATION)
        ex.writeStatus(200, 'OK');
        for (let i = 0; i < Number(p[1]); i++) ex.writeHeader(`x-h${i}`, String(i % 10).repeat(1000));
        ex.endHead(2, false);
        ex.write(Buffer.from('ok'), 0, 2);
        ex.end();
        return;
      }
      case 'hints':
        ex.writeInterim(103, 'Early Hints', ['link', '</a.css>; rel=preload']);
        break;
      case 'noread':
        ex.respond(200, 'OK', ['content-type', 'text/plain'], 'ok', false);
        return;
      case 'status':
        ex.writeStatus(Number(p[1]), 'Status');
        ex.endHead(ResponseBody.None, false);
        ex.end();
        return;
      case 'upgrade':
        this.upgrade();
        return;
      case 'throw':
        throw new Error('test handler throws');
      case 'abort':
        ex.writeStatus(200, 'OK');
        ex.endHead(100, false);
        ex.write(Buffer.alloc(10, 'a'), 0, 10);
        setTimeout(() => ex.abort(), 20);
        return;
    }
    if (ex.bodyLength !== 0) ex.readBody();
    else this.bodyDone();
  }

  onClientBody(buf: Buffer, start: number, end: number, last: boolean): void {
    this.chunks.push(Buffer.from(buf.subarray(start, end)));
    if (this.path[0] === 'pause-body' && !last) {
      this.ex.pauseBody();
      setTimeout(() => this.ex.resumeBody(), 20);
    }
    if (last) this.bodyDone();
  }

  onClientWritable(): void {
    this.s.writable = true;
  }

  onClientAborted(): void {
    this.s.aborted = true;
  }

  private bodyDone(): void {
    this.s.body = Buffer.concat(this.chunks).toString('latin1');
    const p = this.path;
    if (p[0] === 'delay') setTimeout(() => this.echo(false), Number(p[1]));
    else this.echo(p[0] === 'close');
  }

  private echo(close: boolean): void {
    const { aborted, writeReturnedFalse, writable, ...rest } = this.s;
    this.ex.respond(200, 'OK', ['content-type', 'application/json'], JSON.stringify(rest), close);
  }

  private stream(n: number, size: number, delayMs: number, i: number): void {
    const ex = this.ex;
    if (i === 0) {
      ex.writeStatus(200, 'OK');
      ex.endHead(ResponseBody.Unknown, false);
    }
    if (i === n) {
      ex.end();
      return;
    }
    const b = Buffer.alloc(size, 97 + (i % 26));
    ex.write(b, 0, size);
    if (delayMs > 0) setTimeout(() => this.stream(n, size, delayMs, i + 1), delayMs);
    else this.stream(n, size, 0, i + 1);
  }

  private length(n: number): void {
    const ex = this.ex;
    ex.writeStatus(200, 'OK');
    ex.writeHeader('content-type', 'application/octet-stream');
    ex.endHead(n, false);
    for (let at = 0; at < n; at += 1000) {
      const k = Math.min(1000, n - at);
      ex.write(Buffer.alloc(k, 'l'), 0, k);
    }
    ex.end();
  }

  private upgrade(): void {
    const ex = this.ex;
    ex.writeStatus(101, 'Switching Protocols');
    ex.writeHeader('upgrade', 'test');
    ex.endHead(ResponseBody.None, false);
    const d = ex.detach();
    if (d === null) {
      this.s.aborted = true;
      ex.abort();
      return;
    }
    const { socket, head } = d;
    if (head.length) socket.write(head.toString('latin1').toUpperCase());
    socket.on('data', (b: Buffer) => socket.write(b.toString('latin1').toUpperCase()));
    socket.on('end', () => socket.end());
    socket.resume();
  }
}

// ---- a raw client ---------------------------------------------------------------------------

export interface Response {
  status: number;
  reason: string;
  /** lowercase names; repeated fields joined with ", " */
  headers: Record<string, string>;
  /** the raw head, as sent */
  head: string;
  body: Buffer;
}

/**
 * parseResponses splits raw bytes into complete responses (Content-Length, chunked, or up to the
 * end for close-delimited bodies when `eof`); `methods` gives each request's method (HEAD has no
 * body). 1xx responses are returned like the others.
 */
export function parseResponses(data: Buffer, methods: string[] = [], eof = true): { responses: Response[]; rest: Buffer } {
  const responses: Response[] = [];
  let at = 0;
  let req = 0;
  for (;;) {
    const he = data.indexOf('\r\n\r\n', at);
    if (he === -1) break;
    const head = data.toString('latin1', at, he);
    const [line, ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(line!);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(line)}`);
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const c = l.indexOf(':');
      const k = l.slice(0, c).toLowerCase();
      const v = l.slice(c + 1).trim();
      headers[k] = k in headers ? headers[k] + ', ' + v : v;
    }
    const status = Number(m[1]);
    let p = he + 4;
    let body: Buffer = Buffer.alloc(0);
    const informational = status < 200;
    const noBody = informational || status === 204 || status === 304 || methods[req] === 'HEAD';
    if (!noBody) {
      if (headers['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        for (;;) {
          const le = data.indexOf('\r\n', p);
          if (le === -1) return { responses, rest: data.subarray(at) };
          const size = parseInt(data.toString('latin1', p, le), 16);
          if (data.length < le + 2 + size + 2) return { responses, rest: data.subarray(at) };
          parts.push(data.subarray(le + 2, le + 2 + size));
          p = le + 2 + size + 2;
          if (size === 0) break;
        }
        body = Buffer.concat(parts);
      } else if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (data.length < p + n) break;
        body = data.subarray(p, p + n);
        p += n;
      } else {
        if (!eof) break;
        body = data.subarray(p);
        p = data.length;
      }
    }
    responses.push({ status, reason: m[2]!, headers, head, body: Buffer.from(body) });
    if (!informational) req++;
    at = p;
  }
  return { responses, rest: data.subarray(at) };
}

/** echoOf reads the test handler's JSON echo from a response. */
export function echoOf(r: Response): Omit<Seen, 'aborted' | 'writeReturnedFalse' | 'writable'> {
  return JSON.parse(r.body.toString('latin1'));
}

/**
 * RawClient is one raw connection: send bytes, read until a condition, see whether it closed.
 * Every wait is bounded (timeoutMs).
 */
export class RawClient {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  closed = false;
  reset = false;
  private waiters: (() => void)[] = [];

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.wake();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') this.reset = true;
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const c = new RawClient(port, host);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** until resolves once `cond` holds, or rejects after timeoutMs. */
  until(cond: (c: RawClient) => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
    if (cond(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.data.toString('latin1').slice(0, 600))}`));
      }, timeoutMs);
      const check = () => {
        if (!cond(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** responses waits for n complete responses (1xx not counted) and returns them all. */
  async responses(n: number, methods: string[] = [], timeoutMs = 3000): Promise<Response[]> {
    const final = (c: RawClient) => parseResponses(c.data, methods, c.closed).responses.filter((r) => r.status >= 200).length;
    await this.until((c) => final(c) >= n || c.closed, timeoutMs, `${n} responses`);
    return parseResponses(this.data, methods, this.closed).responses;
  }

  waitClosed(timeoutMs = 3000): Promise<void> {
    return this.until((c) => c.closed, timeoutMs, 'the connection to close');
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** exchange sends `data` on a new connection and returns what came back once it closed or timeoutMs passed. */
export async function exchange(port: number, data: string | Buffer, timeoutMs = 3000): Promise<{ data: Buffer; closed: boolean; responses: Response[] }> {
  const c = await RawClient.open(port);
  c.send(data);
  try {
    await c.waitClosed(timeoutMs);
  } catch {
    /* still open: reported as closed: false */
  }
  c.destroy();
  return { data: c.data, closed: c.closed, responses: parseResponses(c.data, [], true).responses };
}
