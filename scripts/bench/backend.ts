/**
 * The benchmark backend: one uWS process answering fixed bodies, fast enough that the proxy in
 * front of it is what a benchmark measures.
 *
 *   GET  /bytes/<n>   n bytes of 'x' (Content-Length), n <= 16 MiB; the buffers are built once
 *   GET  /json/<n>    n bytes of compressible JSON (Content-Type: application/json)
 *   GET  /json-chunked/<n>  the same, chunked in 16 KiB pieces (no Content-Length), as an
 *                     application server streams a large answer
 *   GET  /cached/<n>  the same, cacheable (Cache-Control: public, max-age=3600)
 *   POST <any path>   reads the whole body, answers "<length>\n"
 *   WS   /echo        a WebSocket that echoes every message (text as text, binary as binary)
 *   anything else     404
 *
 * Run as a process: `node dist/scripts/bench/backend.js <port>`; it prints "listening <port>"
 * on stdout once it accepts connections.
 */
import { loadUws, type HttpResponse } from '../../src/uws.js';

const MAX_BYTES = 16 * 1024 * 1024;
const bodies = new Map<number, Buffer>();

function body(n: number): Buffer {
  let b = bodies.get(n);
  if (b === undefined) {
    b = Buffer.alloc(n, 'x');
    bodies.set(n, b);
  }
  return b;
}

const jsonBodies = new Map<number, Buffer>();
/** the piece size of /json-chunked (one chunk each) */
const CHUNK_PIECE = 16 * 1024;

/** json returns n bytes of a JSON array of small records (compresses like a typical API answer). */
function json(n: number): Buffer {
  let b = jsonBodies.get(n);
  if (b === undefined) {
    // whole records while they fit, then spaces: valid JSON of exactly n bytes (n >= 2)
    let s = '[';
    for (let i = 0; ; i++) {
      const rec = `${i ? ',' : ''}{"id":${i},"name":"item ${i}","price":${((i * 1.37) % 100).toFixed(2)},"tags":["alpha","beta"]}`;
      if (s.length + rec.length + 1 > n) break;
      s += rec;
    }
    b = Buffer.from(s.padEnd(Math.max(1, n - 1), ' ') + ']');
    jsonBodies.set(n, b);
  }
  return b;
}

function sized(req: { getParameter(i: number): string | undefined }): number {
  const n = Number(req.getParameter(0));
  return Number.isInteger(n) && n >= 2 && n <= MAX_BYTES ? n : -1;
}

export function runBackend(port: number): void {
  const { uws } = loadUws();
  const app = uws.App();
  app.get('/bytes/:n', (res, req) => {
    const n = Number(req.getParameter(0));
    if (!Number.isInteger(n) || n < 0 || n > MAX_BYTES) {
      res.writeStatus('400 Bad Request').end('bad size\n');
      return;
    }
    res.end(body(n));
  });
  app.get('/json/:n', (res, req) => {
    const n = sized(req);
    if (n < 0) return void res.writeStatus('400 Bad Request').end('bad size\n');
    res.writeHeader('Content-Type', 'application/json').end(json(n));
  });
  app.get('/json-chunked/:n', (res, req) => {
    const n = sized(req);
    if (n < 0) return void res.writeStatus('400 Bad Request').end('bad size\n');
    const b = json(n);
    // uWS frames write() without a length as chunks; pieces it cannot send at once it buffers
    res.cork(() => {
      res.writeHeader('Content-Type', 'application/json');
      for (let at = 0; at < n; at += CHUNK_PIECE) res.write(b.subarray(at, Math.min(n, at + CHUNK_PIECE)));
      res.end();
    });
  });
  app.get('/cached/:n', (res, req) => {
    const n = sized(req);
    if (n < 0) return void res.writeStatus('400 Bad Request').end('bad size\n');
    res.writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'public, max-age=3600').end(json(n));
  });
  // an application-like answer: n bytes of JSON with the fields a web framework typically sends
  app.get('/fields/:n', (res, req) => {
    const n = sized(req);
    if (n < 0) return void res.writeStatus('400 Bad Request').end('bad size\n');
    res.cork(() => {
      res
        .writeHeader('Content-Type', 'application/json; charset=utf-8')
        .writeHeader('Cache-Control', 'no-cache')
        .writeHeader('X-Request-Id', '7f3a9c1e-2b44-4f1a-9d2e-5c0b8a6e1f37')
        .writeHeader('ETag', 'W/"64-5Ky3kT0Lr1bXjS7r5Hq2ZQ"')
        .writeHeader('Vary', 'Accept-Encoding')
        .writeHeader('X-Content-Type-Options', 'nosniff')
        .writeHeader('Strict-Transport-Security', 'max-age=15552000; includeSubDomains')
        .writeHeader('Set-Cookie', 'sid=s%3Aabc123; Path=/; HttpOnly')
        .end(json(n));
    });
  });
  app.ws('/echo', {
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 0,
    message: (ws, msg, isBinary) => void ws.send(msg, isBinary),
  });
  app.post('/*', (res: HttpResponse) => {
    let len = 0;
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((ab, isLast) => {
      len += ab.byteLength;
      if (isLast && !aborted) res.cork(() => res.end(`${len}\n`));
    });
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('not found\n');
  });
  app.listen('127.0.0.1', port, (ls) => {
    if (!ls) {
      process.stderr.write(`backend: cannot listen on 127.0.0.1:${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`listening ${port}\n`);
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) runBackend(Number(process.argv[2] ?? 9101));
