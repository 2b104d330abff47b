/**
 * Real backends for tests: node:http servers on 127.0.0.1 ephemeral ports that count what they
 * see, and raw TCP servers for responses node:http would refuse to send.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../scripts/bench/free-port.js';

export interface Origin {
  label: string;
  port: number;
  url: string;
  /** requests served */
  hits: number;
  /** TCP connections accepted */
  sockets: number;
  /** requests seen, in order */
  requests: http.IncomingMessage[];
  server: http.Server;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, origin: Origin) => void;

/** echoHandler answers with who it is and what it received (method, url, headers, body length). */
export const echoHandler: Handler = (req, res, origin) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-origin', origin.label);
    res.end(
      JSON.stringify({
        origin: origin.label,
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyLength: body.length,
        body: body.length <= 4096 ? body.toString('latin1') : undefined,
      }),
    );
  });
};

export async function createOrigin(label: string, handler: Handler = echoHandler): Promise<Origin> {
  const origin = { label, hits: 0, sockets: 0, requests: [] } as unknown as Origin;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    origin.hits++;
    origin.requests.push(req);
    handler(req, res, origin);
  });
  server.on('connection', () => origin.sockets++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.server = server;
  origin.port = (server.address() as AddressInfo).port;
  origin.url = `http://127.0.0.1:${origin.port}`;
  origin.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return origin;
}

export interface RawOrigin {
  port: number;
  url: string;
  hits: number;
  close(): Promise<void>;
}

/**
 * createRawOrigin runs a TCP server that answers every request head with `respond(socket, head)`;
 * used to send malformed or unusual responses byte for byte.
 */
export async function createRawOrigin(respond: (sock: net.Socket, head: string) => void): Promise<RawOrigin> {
  const o = { hits: 0 } as RawOrigin;
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let at: number;
      while ((at = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, at);
        buf = buf.slice(at + 4);
        o.hits++;
        respond(sock, head);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  o.port = (server.address() as AddressInfo).port;
  o.url = `http://127.0.0.1:${o.port}`;
  o.close = () =>
    new Promise<void>((resolve) => {
      for (const c of conns) c.destroy();
      server.close(() => resolve());
    });
  return o;
}

/** deadPort returns a loopback port nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  return freePort();
}

/** freePort: see scripts/bench/free-port.ts (shared with the benchmarks). */
export { freePort };
