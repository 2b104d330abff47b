/**
 * Real WebSocket backends for tests: a node:http server on a 127.0.0.1 ephemeral port with a `ws`
 * WebSocketServer on upgrades (echo by default), plain HTTP answered with the origin's label, and
 * an optional hook to refuse upgrades with any HTTP status.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

export interface WsOrigin {
  label: string;
  port: number;
  url: string;
  /** WebSocket connections accepted */
  accepted: number;
  /** upgrade requests seen (accepted or refused), in order */
  upgrades: http.IncomingMessage[];
  /** plain HTTP requests served */
  hits: number;
  /** open server-side sockets */
  clients: Set<WebSocket>;
  wss: WebSocketServer;
  close(): Promise<void>;
}

export interface WsOriginOptions {
  /** what to do with each accepted connection (default: echo every message with its type) */
  onConnection?: (ws: WebSocket, req: http.IncomingMessage, origin: WsOrigin) => void;
  /** answer the upgrade yourself (write an HTTP response and return true) to refuse it */
  refuse?: (req: http.IncomingMessage, socket: Duplex) => boolean;
  /** choose the subprotocol (ws's handleProtocols) */
  handleProtocols?: (protocols: Set<string>) => string | false;
  /** extra headers on the 101 */
  upgradeHeaders?: string[];
  maxPayload?: number;
  /** answer a plain HTTP request yourself (return true), e.g. with a page that opens a WebSocket */
  onRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

export async function createWsOrigin(label: string, o: WsOriginOptions = {}): Promise<WsOrigin> {
  const origin = { label, accepted: 0, upgrades: [], hits: 0, clients: new Set() } as unknown as WsOrigin;
  const server = http.createServer((req, res) => {
    origin.hits++;
    if (o.onRequest?.(req, res)) return;
    res.setHeader('x-origin', label);
    res.end(label);
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: o.handleProtocols,
    maxPayload: o.maxPayload ?? 64 * 1024 * 1024,
    perMessageDeflate: false,
  });
  if (o.upgradeHeaders) wss.on('headers', (headers) => headers.push(...o.upgradeHeaders!));
  server.on('upgrade', (req, socket, head) => {
    origin.upgrades.push(req);
    socket.on('error', () => {});
    if (o.refuse?.(req, socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      origin.accepted++;
      origin.clients.add(ws);
      ws.on('close', () => origin.clients.delete(ws));
      ws.on('error', () => {});
      (o.onConnection ?? echo)(ws, req, origin);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.wss = wss;
  origin.port = (server.address() as AddressInfo).port;
  origin.url = `http://127.0.0.1:${origin.port}`;
  origin.close = () =>
    new Promise<void>((resolve) => {
      for (const c of origin.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return origin;
}

/** wsConnect opens a client WebSocket and resolves once it is open (rejects on refusal). */
export function wsConnect(url: string, protocols: string[] = [], opts: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...opts });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() })),
      );
    });
  });
}

/** closed resolves with the close code and reason of a WebSocket, and when it happened. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));
}

/** nextMessage resolves with the next message of a WebSocket. */
export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}
