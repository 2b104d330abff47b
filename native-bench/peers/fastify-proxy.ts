/**
 * native-bench's `fastify-proxy` peer: fastify with `@fastify/http-proxy` (which forwards with
 * @fastify/reply-from over an undici keep-alive pool, its defaults), upstream = the backend,
 * WebSockets proxied too (`websocket: true`), logger off.
 *
 *   node dist/native-bench/peers/fastify-proxy.js <listenPort> <backendPort> [workers]
 */
import Fastify from 'fastify';
import fastifyHttpProxy from '@fastify/http-proxy';
import { peerArgs, serve } from './serve.js';

const { port, backendPort, workers } = peerArgs('fastify-proxy.js');

serve(workers, async () => {
  const app = Fastify({ logger: false });
  await app.register(fastifyHttpProxy, { upstream: `http://127.0.0.1:${backendPort}`, websocket: true });
  await app.listen({ port, host: '127.0.0.1', backlog: 4096 });
});
