/**
 * Config schema of how a connection is served over time and what clients see: "timeouts" (slowloris-safe
 * head timeout as HAProxy's http-request, keep-alive, body idle, upstream), "responses" (stripped headers,
 * Server header, error pages), "websocket" (RFC 6455 relay limits) and "logging" (the access log).
 */
import { Type } from '@sinclair/typebox';
import { Ms, strict } from './common.js';

export const TimeoutsSchema = strict(
  {
    upstreamConnectMs: Ms(
      'Time allowed to connect to a server, or to wait for a free pooled connection (default 2000). Then 504 (503 for the pool wait).',
      2000,
    ),
    upstreamResponseMs: Ms(
      'Longest silence allowed from a server while waiting for or reading its response (default 60000). Before the response starts: 504; after: the client connection is closed.',
      60000,
    ),
    drainMs: Ms('On SIGTERM/SIGINT, how long in-flight requests may take to finish before workers exit (default 30000).', 30000, 0),
    headerMs: Ms(
      'Time allowed for a request head, from its first byte (never extended by a slow trickle: slowloris-safe); a new connection must also start its first request within it, and a TLS handshake complete within it (default 10000, as HAProxy\'s recommended "timeout http-request 10s"; nginx\'s client_header_timeout is 60 s). Then 408 and the connection is closed. With listen.engine "uws" only 10000 is accepted (uWS 20.30 has a fixed 10 s).',
      10000,
    ),
    keepAliveMs: Ms(
      'Idle time allowed between requests on a client connection, from the end of a response (default 60000, the idle timeout of common cloud load balancers; nginx uses 75 s). Behind another proxy, set it above that proxy\'s idle timeout, so that fulcrum never closes a connection the other side is about to reuse. Then the connection is closed without a response. With listen.engine "uws" the default is 10000 and only 10000 is accepted (fixed by uWS 20.30).',
      60000,
    ),
    bodyIdleMs: Ms('Longest silence allowed while reading a request body (default 30000). Then 408 (or a close once the response started).', 30000),
    requestMs: Type.Integer({
      minimum: 0,
      maximum: 24 * 3600 * 1000,
      default: 0,
      description:
        'Longest total time of one request, from its head to the end of its response (default 0: no limit). Then 504 before the response started, a close after.',
    }),
  },
  { description: 'Timeouts.', default: {} },
);

export const ResponsesSchema = strict(
  {
    stripHeaders: Type.Array(Type.String({ minLength: 1, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), {
      default: ['server', 'x-powered-by'],
      description: 'Response header fields removed before responses reach clients (default ["server", "x-powered-by"]), case-insensitive.',
    }),
    serverHeader: Type.Union([Type.String({ minLength: 1, pattern: '^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$' }), Type.Null()], {
      default: null,
      description: 'Server header fulcrum sets on every response (default null: none), e.g. "fulcrum". (uWS 20.30 always adds "uWebSockets: 20".)',
    }),
    errorPages: Type.Record(Type.String({ pattern: '^[45][0-9][0-9]$' }), Type.String({ minLength: 1 }), {
      default: {},
      description:
        'Pages fulcrum sends for the errors it generates, by status: { "502": "errors/502.html" } (default {}: short plain text). Files relative to the config file, read at start and reload; served as text/html.',
    }),
  },
  { description: 'What clients see of the servers: stripped headers, Server header, error pages.', default: {} },
);

export const WebSocketSchema = strict(
  {
    maxMessageBytes: Type.Integer({
      minimum: 125,
      maximum: 1073741824,
      default: 16777216,
      description:
        "uWS engine: largest WebSocket message relayed, whole after reassembly of fragments, either way (default 16777216, 16 MiB). A larger message closes the connection with 1009 (Message Too Big). Read at start: a change needs a restart. Not applied by the tunnel of fulcrum's engine, which does not read frames.",
    }),
    maxBufferedBytes: Type.Integer({
      minimum: 1024,
      maximum: 4294967296,
      default: 33554432,
      description:
        "uWS engine: most bytes fulcrum holds for one WebSocket connection in one direction while the receiver is not keeping up (default 33554432, 32 MiB; at least maxMessageBytes). Before that, fulcrum stops reading from the server when the client is slow; past it the connection is closed with 1013 (Try Again Later). The tunnel of fulcrum's engine pauses the faster side instead and holds no more than a socket buffer.",
    }),
    idleTimeoutMs: Ms(
      "A WebSocket hop (client or server side) that sends nothing at all, not even a pong, for this long is closed (default 120000; 0 disables; otherwise at least 8000, rounded to seconds on the client side). The uWS relay pings a hop that has gone quiet, so live peers stay connected through idle periods; the tunnel of fulcrum's engine closes both hops when no byte went either way for this long.",
      120000,
      0,
    ),
  },
  {
    description:
      "WebSocket proxying: upgrades are balanced like HTTP requests; fulcrum's engine tunnels the bytes after the 101, the uWS engine relays message by message.",
    default: {},
  },
);

/** The fields a JSON access log line can have (logging.accessFields), in their default order. */
export const ACCESS_LOG_FIELDS = [
  'time',
  'requestId',
  'client',
  'method',
  'host',
  'path',
  'protocol',
  'status',
  'reason',
  'bytesIn',
  'bytesOut',
  'route',
  'upstream',
  'server',
  'upstreamMs',
  'totalMs',
  'userAgent',
  'referer',
] as const;

export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

export const LoggingSchema = strict(
  {
    level: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')], {
      default: 'info',
      description: 'Least severe level written to the log (default "info").',
    }),
    access: Type.String({
      minLength: 1,
      default: 'off',
      description:
        'Access log, one line per request (default "off"): "stdout", "off", or a file path (opened for append; reopened on SIGUSR1, for logrotate). Written in batches, off the request path.',
    }),
    format: Type.Union([Type.Literal('json'), Type.Literal('combined')], {
      default: 'json',
      description:
        'Access log format (default "json"): "json" (one JSON object per line) or "combined" (nginx\'s combined format followed by request id, upstream, server, times, route and reason).',
    }),
    accessFields: Type.Array(Type.Union(ACCESS_LOG_FIELDS.map((f) => Type.Literal(f))), {
      minItems: 1,
      uniqueItems: true,
      default: [...ACCESS_LOG_FIELDS],
      description: `The fields of a "json" access log line, in this order (default: all of them, ${ACCESS_LOG_FIELDS.map((f) => `"${f}"`).join(', ')}). See README "Access log" for what each holds.`,
    }),
  },
  { description: "fulcrum's own log (JSON lines on stderr).", default: {} },
);
