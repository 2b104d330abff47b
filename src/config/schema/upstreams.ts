/**
 * Config schema of "upstreams": named pools of servers, how one is picked (balance, hashKey), active and
 * passive health checks, sticky sessions, queueing, adaptive concurrency, retries, DNS discovery, the
 * headers sent to servers (RFC 7239 Forwarded, X-Forwarded-*) and the keep-alive pool.
 */
import { Type } from '@sinclair/typebox';
import { Ms, strict } from './common.js';

export const ServerSchema = strict(
  {
    url: Type.String({
      minLength: 1,
      description: 'Address of the backend server: http://host:port (port defaults to 80). Paths are not allowed.',
      examples: ['http://127.0.0.1:9001'],
    }),
    weight: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1,
      description: 'Relative share of requests this server gets (default 1). Honoured by round-robin and least-connections.',
    }),
    backup: Type.Boolean({
      default: false,
      description: 'A backup server gets requests only when no primary server of the upstream is available (default false).',
    }),
    maxConnections: Type.Integer({
      minimum: 0,
      maximum: 1000000,
      default: 0,
      description:
        "Most requests in flight to this server from all workers together (default 0: no limit). When every available server is at its limit, requests wait in the upstream's queue (queueSize, queueTimeoutMs). The other workers' share is the merged view, up to ~200 ms old.",
    }),
  },
  { description: 'One backend server.' },
);

export const KeepAliveSchema = strict(
  {
    maxConnections: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 1024,
      description:
        'Most connections each worker opens to one server (default 1024). Requests beyond it wait in a queue for up to timeouts.upstreamConnectMs, then get 503.',
    }),
    maxIdle: Type.Integer({
      minimum: 0,
      maximum: 100000,
      default: 128,
      description: 'Most idle keep-alive connections each worker keeps per server (default 128). 0 disables connection reuse.',
    }),
    idleTimeoutMs: Ms('How long an idle upstream connection is kept open (default 60000).', 60000),
    maxRequestsPerConnection: Type.Integer({
      minimum: 1,
      maximum: 100000000,
      default: 10000,
      description: 'An upstream connection is closed after serving this many requests (default 10000).',
    }),
  },
  { description: 'Upstream keep-alive connection pool, per worker and per server.', default: {} },
);

export const UpstreamSchema = strict(
  {
    balance: Type.Union(
      [
        Type.Literal('round-robin'),
        Type.Literal('weighted-round-robin'),
        Type.Literal('least-connections'),
        Type.Literal('ip-hash'),
        Type.Literal('hash'),
        Type.Literal('random-two-choices'),
        Type.Literal('least-time'),
      ],
      {
        default: 'round-robin',
        description:
          'How a server is picked (default "round-robin"): "round-robin" (smooth weighted, as nginx; "weighted-round-robin" is the same), "least-connections" (fewest requests in flight per weight across all workers; ties go round-robin), "ip-hash" (by client address), "hash" (by hashKey, consistent), "random-two-choices" (the less busy of two random servers), "least-time" (lowest peak-EWMA response time x in-flight).',
      },
    ),
    hashKey: Type.Optional(
      Type.Union(
        [
          strict(
            { header: Type.String({ minLength: 1, description: 'Request header whose value is the key.' }) },
            { description: 'Hash on a request header.' },
          ),
          strict({ cookie: Type.String({ minLength: 1, description: 'Cookie whose value is the key.' }) }, { description: 'Hash on a cookie.' }),
          strict({ path: Type.Literal(true, { description: 'Hash on the request path (without the query).' }) }, { description: 'Hash on the path.' }),
        ],
        {
          description:
            'The key of balance "hash" (required with it): {"header": name}, {"cookie": name} or {"path": true}. A request without the key goes round-robin.',
        },
      ),
    ),
    sharedInFlight: Type.Boolean({
      default: true,
      description:
        'Whether least-connections, random-two-choices and least-time count the requests in flight of every worker (merged by the primary every 100 ms) rather than only their own (default true).',
    }),
    healthCheck: Type.Optional(
      strict(
        {
          path: Type.String({ pattern: '^/', default: '/', description: 'Path probed with GET (default "/").' }),
          intervalMs: Ms('Time between two probes of a server (default 2000).', 2000, 50),
          timeoutMs: Ms('A probe without a complete response within this time fails (default 1000).', 1000),
          rise: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: 'Consecutive passing probes that bring a down server back (default 2).' }),
          fall: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Consecutive failing probes that take an up server down (default 3).' }),
          expectStatus: Type.Union(
            [Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1 }), Type.String({ pattern: '^[1-5][0-9][0-9]-[1-5][0-9][0-9]$' })],
            { default: '200-399', description: 'Statuses that pass (default "200-399"): a list such as [200, 204] or a range "200-399".' },
          ),
          expectBody: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'When set, the body must contain this text, or match it when written as /regex/flags (default: not checked).',
            }),
          ),
        },
        {
          description:
            'Active health checks, run by the primary only (never once per worker). Servers start up and go down after `fall` failed probes, as in nginx and HAProxy (default: no active checks).',
        },
      ),
    ),
    passiveHealth: strict(
      {
        maxFails: Type.Integer({
          minimum: 0,
          maximum: 10000,
          default: 3,
          description: 'Failures (connect errors, timeouts, failStatuses) within failWindowMs that eject a server (default 3; 0 turns passive checks off).',
        }),
        failWindowMs: Ms('Window in which maxFails failures count (default 10000).', 10000),
        ejectMs: Ms('How long an ejected server gets no requests; doubles each time it is ejected again soon after (default 10000).', 10000),
        maxEjectMs: Ms('Longest ejection after repeated ejections (default 300000).', 300000),
        failStatuses: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
          default: [],
          description: 'Response statuses that count as failures, e.g. [502, 503, 504] (default [], as nginx: only errors and timeouts count).',
        }),
      },
      { description: 'Passive health checks: workers count failures of real requests, the primary decides and ejects.', default: {} },
    ),
    sticky: strict(
      {
        mode: Type.Union([Type.Literal('none'), Type.Literal('cookie'), Type.Literal('ip')], {
          default: 'none',
          description:
            'Session persistence (default "none"): "cookie" (fulcrum sets a cookie with an opaque session id on the first response and sends later requests carrying it to the same server), "ip" (by client address).',
        }),
        cookieName: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', default: 'fulcrum_sid', description: 'Name of the session cookie (default "fulcrum_sid").' }),
        ttlSeconds: Type.Integer({ minimum: 1, maximum: 31536000, default: 3600, description: 'A session unused for this long is forgotten (default 3600).' }),
        maxEntries: Type.Integer({
          minimum: 1,
          maximum: 10000000,
          default: 100000,
          description: 'Most sessions kept per upstream; the least recently used goes first (default 100000).',
        }),
      },
      {
        description:
          'Sticky sessions. The session table lives in the primary (TTL, LRU bound) and is pushed to every worker, so it survives worker crashes. A session whose server is down or drained moves to another one.',
        default: {},
      },
    ),
    queueSize: Type.Integer({
      minimum: 0,
      maximum: 1000000,
      default: 100,
      description:
        'Requests each worker queues when every available server is at its maxConnections or adaptive concurrency limit (default 100); beyond it: 503 with Retry-After at once.',
    }),
    queueTimeoutMs: Ms('Longest wait in that queue; then 503 with Retry-After (default 10000).', 10000),
    adaptiveConcurrency: Type.Optional(
      strict(
        {
          minLimit: Type.Integer({
            minimum: 1,
            maximum: 100000,
            default: 3,
            description: 'Lowest limit per server, and the limit held while the minimum latency is measured (default 3, as Envoy).',
          }),
          maxLimit: Type.Integer({
            minimum: 1,
            maximum: 100000,
            default: 1000,
            description: 'Highest limit per server (default 1000). A maxLimit below minLimit counts as minLimit.',
          }),
          latencyTolerancePercent: Type.Integer({
            minimum: 0,
            maximum: 1000,
            default: 25,
            description: 'How far above its minimum the latency may rise before the limit shrinks (default 25: 1.25 x the minimum; below it the limit grows).',
          }),
          sampleWindowMs: Ms('How often the limit is recomputed from the latencies measured meanwhile (default 250).', 250, 100),
          percentile: Type.Integer({
            minimum: 1,
            maximum: 99,
            default: 50,
            description: "Percentile of a window's latencies that is compared with the minimum (default 50).",
          }),
          minLatencyIntervalMs: Ms(
            'How often the minimum latency is measured again (default 30000, plus up to jitterPercent): the limit is held at minLimit until minLatencyRequests responses came back, and their latency becomes the new minimum.',
            30000,
            1000,
          ),
          minLatencyRequests: Type.Integer({
            minimum: 1,
            maximum: 100000,
            default: 50,
            description: 'Responses that make a minimum-latency measurement (default 50; the percentile of them is taken).',
          }),
          jitterPercent: Type.Integer({
            minimum: 0,
            maximum: 100,
            default: 15,
            description:
              'Random extra time, up to this share of minLatencyIntervalMs, before each measurement, so that servers do not all measure at once (default 15).',
          }),
        },
        {
          description:
            "Adaptive concurrency limit per server (default: off; {} turns it on with these defaults). The limit on requests in flight to each server, from all workers together, follows the measured latency as Envoy's gradient controller does: it grows while the latency (time to the response head) stays near its minimum and shrinks as it rises above it. Requests over the limit wait in the queue (queueSize, queueTimeoutMs). Sticky sessions are not held back.",
        },
      ),
    ),
    slowStartMs: Ms(
      'When a server comes back (health check up, ejection over, undrained, added), its weight ramps from near 0 to its configured weight over this time (default 0: at once).',
      0,
      0,
    ),
    retries: Type.Integer({
      minimum: 0,
      maximum: 10,
      default: 2,
      description:
        'How many other servers a failed request may be retried on (default 2). Only where safe: see retryOn. A retry never goes to a server this request already tried.',
    }),
    retryOn: Type.Array(Type.Union([Type.Literal('connect-error'), Type.Literal('error'), Type.Literal('timeout')]), {
      default: ['connect-error', 'error', 'timeout'],
      description:
        'Failures that are retried (default all): "connect-error" (connection refused or not established: nothing was sent, any method), "error" (connection reset or invalid response before any response byte) and "timeout" (no response head within upstreamResponseMs), both only for idempotent methods (GET HEAD OPTIONS PUT DELETE) or on routes with retryUnsafe.',
    }),
    servers: Type.Array(ServerSchema, { minItems: 1, description: 'The backend servers of this upstream.' }),
    discovery: Type.Optional(
      strict(
        {
          dnsRefreshMs: Ms('How often host names are resolved again (default 30000).', 30000, 100),
          srv: Type.Boolean({
            default: false,
            description: 'Resolve "_http._tcp.<host>" SRV records, which give each server\'s port and weight (default false: A/AAAA records, the URL\'s port).',
          }),
          resolvers: Type.Array(Type.String({ minLength: 1 }), {
            default: [],
            description: 'DNS servers to ask, "ip" or "ip:port" (default []: the system\'s, from /etc/resolv.conf).',
          }),
        },
        {
          description:
            'Servers given by host name are resolved at start and every dnsRefreshMs: each address becomes a server (same weight, backup and maxConnections), addresses that disappear are removed (their requests in flight finish). Default: none (a host name is resolved per connection).',
        },
      ),
    ),
    hostHeader: Type.String({
      minLength: 1,
      default: 'client',
      description:
        'Host header sent to the servers (default "client"): "client" passes the client\'s Host, "server" sends the server URL\'s host:port, any other value is sent as it is.',
    }),
    forwardedHeader: Type.Union([Type.Literal('x-forwarded'), Type.Literal('forwarded'), Type.Literal('both')], {
      default: 'x-forwarded',
      description:
        'Which fields tell the servers about the client (default "x-forwarded"): "x-forwarded" sets X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host; "forwarded" sets Forwarded (RFC 7239: for, host, proto); "both" sets all. From a client in trustedProxies, what it sent is extended (X-Forwarded-For, Forwarded) or kept; from anyone else every X-Forwarded-*, Forwarded and X-Real-IP field is removed first.',
    }),
    realIpHeader: Type.Boolean({
      default: false,
      description:
        "Set X-Real-IP to the client address (default false), as nginx's `proxy_set_header X-Real-IP $remote_addr`. From a client in trustedProxies: the X-Real-IP it sent, else the last X-Forwarded-For element it sent, else its own address. A client's own X-Real-IP is never passed unless it is a trusted proxy.",
    }),
    keepAlive: KeepAliveSchema,
  },
  { description: 'A named pool of backend servers.' },
);
