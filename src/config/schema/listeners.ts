/**
 * Config schema of the listeners and the process: "listen" (HTTP listener, engine, h2c per RFC 9113 3.3),
 * "admin" (the admin listener and its DNS-rebinding Host check), and "sharedState" (Redis shared by hosts).
 */
import { Type } from '@sinclair/typebox';
import { Ms, Port, strict } from './common.js';

export const ListenSchema = strict(
  {
    host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address the proxy listens on (default "0.0.0.0").' }),
    port: Port('Port the proxy listens on (default 8080). Every worker listens on it (SO_REUSEPORT).', 8080),
    engine: Type.Union([Type.Literal('fulcrum'), Type.Literal('uws')], {
      default: 'fulcrum',
      description:
        'The HTTP engine facing clients (default "fulcrum": fulcrum\'s own HTTP/1.1 engine on node:net/node:tls). "uws": the uWebSockets.js front, with its limits (README "What the uWS engine cannot do"): no HTTP/1.0, pipelines closed, fixed 10 s header and keep-alive timeouts, at most 48 header fields.',
    }),
    h2c: Type.Boolean({
      default: false,
      description:
        'Accept cleartext HTTP/2 with prior knowledge ("h2c", RFC 9113 3.3) on this listener (default false), for use behind another TLS terminator that speaks HTTP/2 to fulcrum. A connection that starts with the HTTP/2 preface is served as HTTP/2, any other as HTTP/1.x. listen.engine "fulcrum" only.',
    }),
  },
  { description: 'The HTTP listener.', default: {} },
);

export const AdminSchema = strict(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Admin listener address (default "127.0.0.1", loopback only).' }),
    port: Port('Admin listener port (default 9090).', 9090),
    token: Type.Union([Type.String({ minLength: 16 }), Type.Null()], {
      default: null,
      description: 'Bearer token required by the admin API (default null). Required when admin.host is not a loopback address. Never printed.',
    }),
    hosts: Type.Array(
      Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\\.?$' }),
      {
        default: [],
        description:
          'Host names the admin listener answers to besides its own address (default []: only the address it was reached on, and "localhost" on loopback). Requests with any other Host are refused with 403, so a web page cannot reach the admin API by DNS rebinding. Add the name when the admin API is reached through a name (a reverse proxy, an SSH alias); the port is not compared.',
      },
    ),
  },
  { description: 'The admin listener: status, metrics, dashboard, reload and the runtime APIs.', default: {} },
);

export const SharedStateSchema = strict(
  {
    redis: strict(
      {
        url: Type.String({
          minLength: 1,
          pattern: '^rediss?://',
          description: 'Redis or Valkey server (required): "redis://[user:password@]host:port[/db]", or "rediss://..." for TLS. The password is never printed.',
        }),
        keyPrefix: Type.String({
          default: 'fulcrum:',
          description: 'Prefix of every key and channel fulcrum uses (default "fulcrum:"); hosts that share state use the same one.',
        }),
        commandTimeoutMs: Ms('A Redis command that takes longer fails and fulcrum carries on with its local state (default 500).', 500),
      },
      { description: 'The Redis server the hosts share. Requests never wait for it: the primary talks to it in the background.' },
    ),
  },
  {
    description:
      'State shared by several fulcrum hosts (default: none; each host keeps its own in the primary): sticky sessions, rate-limit buckets, cache purges.',
  },
);
