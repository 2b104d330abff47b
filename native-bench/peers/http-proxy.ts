/**
 * native-bench's `http-proxy` peer: node:http and the `http-proxy` package (proxy.web for
 * requests, proxy.ws for WebSocket upgrades), with a keep-alive agent to the backend.
 *
 *   node dist/native-bench/peers/http-proxy.js <listenPort> <backendPort> [workers]
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('http-proxy.js');

serve(workers, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent });
  proxy.on('error', (_err, _req, res) => {
    if (res instanceof http.ServerResponse) {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    } else (res as Socket).destroy();
  });
  const server = http.createServer((req, res) => proxy.web(req, res));
  server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve));
});
