/**
 * native-bench's `uws-floor` target: the least a proxy built like fulcrum can cost. A uWS front
 * (the same binary fulcrum loads) and one keep-alive node:net connection per request in flight,
 * with nothing else: no routing, no limits, no metrics, no retries, no header filtering, a parser
 * that only finds the end of the head and Content-Length. Not a usable proxy (it trusts the
 * backend completely and relays only Content-Length bodies); it is there to show, in the same run,
 * how much of fulcrum's cost is the architecture (uWS + Node) and how much is fulcrum's own work.
 * Opt-in: `--targets ...,uws-floor`.
 *
 *   node dist/native-bench/peers/uws-floor.js <listenPort> <backendPort> [workers]
 */
import net from 'node:net';
import { loadUws, type HttpResponse } from '../../src/uws.js';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('uws-floor.js');

interface Conn {
  sock: net.Socket;
  res: HttpResponse | null;
  aborted: boolean;
  /** body bytes still to relay after the head */
  left: number;
}

const shared = Buffer.allocUnsafe(65536);
const idle: Conn[] = [];
const HEAD_END = Buffer.from('\r\n\r\n');

function open(): Conn {
  const c: Conn = { sock: null as unknown as net.Socket, res: null, aborted: false, left: 0 };
  c.sock = net.connect({
    port: backendPort,
    host: '127.0.0.1',
    noDelay: true,
    onread: {
      buffer: shared,
      callback: (n: number, b: Uint8Array) => {
        onRead(c, b as Buffer, n);
        return true;
      },
    },
  });
  return c;
}

function onRead(c: Conn, b: Buffer, n: number): void {
  const res = c.res;
  let body = 0;
  if (c.left === 0) {
    // a new response: its head is in this read (small heads, loopback)
    const he = b.indexOf(HEAD_END);
    const cl = /\r\ncontent-length: *(\d+)/i.exec(b.toString('latin1', 0, he));
    const total = cl ? Number(cl[1]) : 0;
    const status = b.toString('latin1', 9, 12);
    body = he + 4;
    c.left = total;
    if (res !== null && !c.aborted) {
      const piece = b.subarray(body, n);
      c.left -= piece.length;
      res.cork(() => {
        res.writeStatus(status);
        if (c.left === 0) res.end(piece);
        else res.write(piece);
      });
    } else c.left -= n - body;
  } else {
    const piece = b.subarray(0, n);
    c.left -= n;
    if (res !== null && !c.aborted) res.cork(() => (c.left === 0 ? res.end(piece) : res.write(piece)));
  }
  if (c.left <= 0) {
    c.left = 0;
    c.res = null;
    idle.push(c);
  }
}

serve(workers, async () => {
  const { uws } = loadUws();
  const app = uws.App().any('/*', (res, req) => {
    const c = idle.pop() ?? open();
    c.res = res;
    c.aborted = false;
    res.onAborted(() => {
      c.aborted = true;
      c.sock.destroy(); // never reused: its response would have nowhere to go
    });
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const q = req.getQuery();
    const len = req.getHeader('content-length');
    const head = `${method} ${q ? url + '?' + q : url} HTTP/1.1\r\nhost: ${req.getHeader('host')}\r\nx-forwarded-for: 127.0.0.1\r\n${len ? 'content-length: ' + len + '\r\n' : ''}\r\n`;
    if (!len || len === '0') {
      c.sock.write(head);
      return;
    }
    c.sock.write(head);
    res.onData((ab) => {
      if (ab.byteLength) c.sock.write(Buffer.copyBytesFrom(new Uint8Array(ab)));
    });
  });
  await new Promise<void>((resolve, reject) => app.listen('127.0.0.1', port, (s) => (s ? resolve() : reject(new Error(`cannot listen on ${port}`)))));
});
