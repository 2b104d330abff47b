/**
 * The config contract, defined once. `config.schema.json` is generated from this file
 * (`npm run build` runs scripts/gen-schema.ts), and `validateConfig` (src/config/load.ts) validates against it, so the
 * editor's completion, `fulcrum check` and the running proxy can never disagree.
 *
 * Conventions: camelCase keys, units in the name (Ms, Bytes, Seconds), every key described with
 * its default, safe defaults, unknown keys refused.
 */
import { Type, type Static, type TSchema, type ObjectOptions } from '@sinclair/typebox';

const strict = <T extends Parameters<typeof Type.Object>[0]>(props: T, opts: ObjectOptions) => Type.Object(props, { additionalProperties: false, ...opts });

const Port = (description: string, dflt: number) => Type.Integer({ minimum: 1, maximum: 65535, default: dflt, description });

const Ms = (description: string, dflt: number, minimum = 1) => Type.Integer({ minimum, maximum: 24 * 3600 * 1000, default: dflt, description });

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

const CACHE_POLICY_KEYS = {
  lockTimeoutMs: Ms(
    'Request coalescing: concurrent misses for one URL wait this long for the first one to fill the cache, then go to the server on their own (default 5000).',
    5000,
    0,
  ),
  heuristicPercent: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 10,
    description:
      'Heuristic freshness (RFC 9111 4.2.2) for responses without explicit expiry but with Last-Modified: this percent of the time since Last-Modified (default 10; 0 disables heuristics).',
  }),
  heuristicMaxSeconds: Type.Integer({
    minimum: 0,
    maximum: 31536000,
    default: 86400,
    description: 'Upper bound of a heuristic freshness lifetime, in seconds (default 86400).',
  }),
};

export const CacheRouteSchema = strict(
  {
    lockTimeoutMs: Type.Optional(CACHE_POLICY_KEYS.lockTimeoutMs),
    heuristicPercent: Type.Optional(CACHE_POLICY_KEYS.heuristicPercent),
    heuristicMaxSeconds: Type.Optional(CACHE_POLICY_KEYS.heuristicMaxSeconds),
  },
  { description: 'Per-route cache settings; keys left out come from the "cache" section.' },
);

export const CacheSchema = strict(
  {
    maxBytes: Type.Integer({
      minimum: 0,
      maximum: 68719476736,
      default: 268435456,
      description:
        'Most bytes of responses (bodies and headers) each worker keeps in its cache (default 268435456, 256 MiB); least recently used entries are evicted first.',
    }),
    maxObjectBytes: Type.Integer({
      minimum: 0,
      maximum: 4294967296,
      default: 8388608,
      description: 'Largest response body stored (default 8388608, 8 MiB). Larger responses stream through uncached and are never buffered whole.',
    }),
    targetedFields: Type.Array(Type.String({ minLength: 1, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), {
      uniqueItems: true,
      default: ['CDN-Cache-Control'],
      description:
        'Targeted cache-control fields fulcrum obeys (RFC 9213), most applicable first (default ["CDN-Cache-Control"]), e.g. ["Fulcrum-Cache-Control", "CDN-Cache-Control"]. The first one present with a valid value decides the caching of a response instead of Cache-Control and Expires; [] obeys Cache-Control only.',
    }),
    forwardTargetedFields: Type.Boolean({
      default: false,
      description:
        'Pass the targetedFields on to clients (default false: when a route caches, they are removed from every response, relayed or served from the cache, as they are meant for fulcrum; set true when a CDN in front of fulcrum reads them too).',
    }),
    ...CACHE_POLICY_KEYS,
  },
  { description: 'Response cache (RFC 9111 shared cache), one per worker; routes turn it on with "cache": true.', default: {} },
);

const COMPRESSION_KEYS = {
  algorithms: Type.Array(Type.Union([Type.Literal('br'), Type.Literal('zstd'), Type.Literal('gzip'), Type.Literal('deflate')]), {
    uniqueItems: true,
    default: ['br', 'zstd', 'gzip', 'deflate'],
    description:
      'Encodings offered, in order of preference when the client accepts several with the same q-value (default ["br", "zstd", "gzip", "deflate"]). zstd is left out where Node.js has none (before 22.15 / 23.8, e.g. Node.js 20). [] turns compression off.',
  }),
  minBytes: Type.Integer({
    minimum: 0,
    maximum: 1073741824,
    default: 1024,
    description: 'Smallest response body compressed (default 1024). Smaller responses are sent as they are and never visit the compression pool.',
  }),
  maxBytes: Type.Integer({
    minimum: 0,
    maximum: 1073741824,
    default: 4194304,
    description:
      'Largest body with a Content-Length that is compressed whole (default 4194304, 4 MiB): buffered, compressed on the pool and sent with its new Content-Length. Larger bodies, and bodies without a Content-Length (chunked or close-delimited), are compressed as they stream, with memory bounded per response, and sent chunked.',
  }),
  types: Type.Array(Type.String({ minLength: 1 }), {
    default: ['text/*', 'application/json', 'application/*+json', 'application/javascript', 'application/xml', 'application/*+xml', 'image/svg+xml'],
    description: 'Content types compressed (default: text/*, JSON, JavaScript, XML, SVG). "type/*" matches a whole type, "type/*+suffix" a structured suffix.',
  }),
  flushTypes: Type.Array(Type.String({ minLength: 1 }), {
    default: ['text/event-stream'],
    description:
      'Content types whose compressed stream is flushed at each chunk the server sends (default ["text/event-stream"]), so that server-sent events are not held back; other streamed bodies leave as the compressor fills its blocks. Patterns as in types; a type is compressed only when types matches it too.',
  }),
};

export const CompressionRouteSchema = strict(
  {
    algorithms: Type.Optional(COMPRESSION_KEYS.algorithms),
    minBytes: Type.Optional(COMPRESSION_KEYS.minBytes),
    maxBytes: Type.Optional(COMPRESSION_KEYS.maxBytes),
    types: Type.Optional(COMPRESSION_KEYS.types),
    flushTypes: Type.Optional(COMPRESSION_KEYS.flushTypes),
  },
  { description: 'Per-route compression settings; keys left out come from the "compression" section.' },
);

export const CompressionSchema = strict(
  {
    enabled: Type.Boolean({ default: true, description: 'Compress responses on routes that do not say otherwise (default true).' }),
    ...COMPRESSION_KEYS,
    poolSize: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 0, maximum: 256 })], {
      default: 'auto',
      description:
        'Compression threads per worker process, on a piscina pool (default "auto": the cores divided by the worker processes, at least 1). 0 compresses on the worker\'s main thread (for comparison; it blocks the event loop).',
    }),
    gzipLevel: Type.Integer({ minimum: 1, maximum: 9, default: 6, description: 'gzip and deflate level (default 6).' }),
    brotliQuality: Type.Integer({ minimum: 0, maximum: 11, default: 5, description: 'Brotli quality (default 5; 11 is much slower).' }),
    zstdLevel: Type.Integer({ minimum: 1, maximum: 19, default: 3, description: "zstd level (default 3, zstd's own default), where Node.js has zstd." }),
  },
  { description: "Response compression (gzip, brotli, zstd, deflate) by the client's Accept-Encoding.", default: {} },
);

const CidrList = (description: string) => Type.Array(Type.String({ minLength: 1 }), { default: [], description });

export const AccessSchema = strict(
  {
    allow: CidrList(
      'Addresses or CIDR ranges (IPv4, IPv6; IPv4-mapped IPv6 matches IPv4 ranges) allowed in (default []: everyone). When not empty, everyone else is denied.',
    ),
    deny: CidrList('Addresses or CIDR ranges denied (default []). Deny wins over allow.'),
    allowFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description:
        'File with one address or CIDR per line (# comments, blank lines ignored) added to "allow" (default null). Relative to the config file. Read at start and on reload.',
    }),
    denyFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description: 'File with one address or CIDR per line added to "deny" (default null). Relative to the config file. Read at start and on reload.',
    }),
    denyAction: Type.Union([Type.Literal('403'), Type.Literal('close')], {
      default: '403',
      description: 'What a denied client gets (default "403"): a 403 response, or "close": the connection is closed without a response.',
    }),
  },
  { description: 'Client address allow/deny lists. Checked before routing (global) and after (per route); a denied request never reaches a server.' },
);

export const LimitsSchema = strict(
  {
    maxConnectionsPerClient: Type.Integer({
      minimum: 0,
      maximum: 1000000,
      default: 256,
      description:
        'Most connections one client address may have busy at once over all workers (default 256; 0: no limit). Counted as requests in flight (uWS 20.30 serves one request at a time per connection); the excess is closed at once. Tolerance: up to workers - 1 over the limit.',
    }),
    maxUrlBytes: Type.Integer({
      minimum: 16,
      maximum: 1048576,
      default: 8192,
      description: 'Longest request target (path and query) in bytes (default 8192). Longer: 414.',
    }),
    maxHeaders: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 100,
      description: 'Most request header fields (default 100). More: 431. uWS 20.30 itself refuses requests with more than 48 fields (see README).',
    }),
    maxHeaderBytes: Type.Integer({
      minimum: 256,
      maximum: 1048576,
      default: 16384,
      description:
        'Most bytes of request header fields, counted as name + value + 4 per field (default 16384). More: 431. uWS 20.30 answers 431 itself above about 19 KiB.',
    }),
    maxBodyBytes: Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 10485760,
      description:
        'Largest request body in bytes (default 10485760). Checked against Content-Length before anything is forwarded, and while a chunked body streams: 413 and the connection is closed.',
    }),
  },
  { description: 'Request size limits.', default: {} },
);

export const RateLimitSchema = strict(
  {
    ratePerSecond: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1e9,
      default: 100,
      description: "Tokens added to a client's bucket per second (default 100): its sustained request rate.",
    }),
    burst: Type.Integer({
      minimum: 1,
      maximum: 1e9,
      default: 200,
      description: 'Bucket size (default 200): requests a client may send at once after being idle.',
    }),
    key: Type.Union(
      [
        Type.Literal('ip'),
        strict(
          {
            header: Type.String({
              minLength: 1,
              pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
              description: 'Header whose value is the key (e.g. an API key); clients without it are keyed by address.',
            }),
          },
          { description: 'Key by a request header.' },
        ),
      ],
      {
        default: 'ip',
        description: 'What a bucket belongs to (default "ip": the client address): "ip", or { "header": "x-api-key" }.',
      },
    ),
  },
  { description: 'Request rate limit per client (token bucket), shared by all workers through the primary. Over the limit: 429 with Retry-After.' },
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

const CertFile = (what: string) => Type.String({ minLength: 1, description: `${what} (PEM file, relative to the config file).` });
const Passphrase = Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
  default: null,
  description: 'Passphrase of an encrypted key (default null). Never printed.',
});

export const TlsSchema = strict(
  {
    port: Port('HTTPS port (default 8443), on listen.host.', 8443),
    cert: CertFile('Default certificate chain, for clients without SNI or with an unknown name'),
    key: CertFile('Private key of the default certificate'),
    passphrase: Passphrase,
    sni: Type.Array(
      strict(
        {
          hostname: Type.String({
            minLength: 1,
            pattern: '^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$',
            description: 'Server name (SNI) this certificate is for.',
          }),
          cert: CertFile('Certificate chain'),
          key: CertFile('Private key'),
          passphrase: Passphrase,
        },
        { description: 'A certificate chosen by the server name the client asks for.' },
      ),
      { default: [], description: 'Certificates chosen by SNI (default []).' },
    ),
    minVersion: Type.Literal('TLSv1.2', {
      default: 'TLSv1.2',
      description:
        'Lowest TLS version accepted (default "TLSv1.2"). The uWS 20.30 build refuses TLS 1.0/1.1 and cannot be told to refuse 1.2, so only "TLSv1.2" is accepted.',
    }),
    redirectHttp: Type.Boolean({
      default: false,
      description: 'Answer every request on the HTTP listener with a redirect to HTTPS (default false: serve both).',
    }),
    redirectStatus: Type.Union([Type.Literal(301), Type.Literal(302), Type.Literal(307), Type.Literal(308)], {
      default: 301,
      description: 'Status of that redirect (default 301).',
    }),
    hsts: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description: 'Strict-Transport-Security value added to HTTPS responses from the servers (default null: none), e.g. "max-age=31536000".',
    }),
  },
  {
    description:
      'TLS termination: an HTTPS listener (uWS SSLApp) beside the HTTP one. Certificates are read again on reload (SIGHUP) without dropping connections.',
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

export const RouteSchema = strict(
  {
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[\\x21-\\x7e]+$',
        description:
          'Name of the route, unique among routes (default: host + pathPrefix, e.g. "*/api/"). Printed by `fulcrum check`; the name the access log gives the route.',
      }),
    ),
    host: Type.String({
      minLength: 1,
      default: '*',
      description:
        'Host to match (default "*"): an exact name ("api.example.com"), a wildcard ("*.example.com", matching one or more labels), or "*" for any. Case-insensitive; the port is ignored.',
    }),
    pathPrefix: Type.String({
      pattern: '^/',
      default: '/',
      description:
        'Path prefix to match (default "/"), a plain string prefix like nginx\'s `location /api`: "/api" matches "/api", "/api/x" and "/apix"; end it with "/" to match a whole segment. Matched against the normalised path (see README).',
    }),
    upstream: Type.String({ minLength: 1, description: 'Name of the upstream (a key of "upstreams") that serves this route.' }),
    cache: Type.Optional(
      Type.Union([Type.Boolean(), CacheRouteSchema], {
        description:
          'Response cache for this route (default false: caching is off unless a route turns it on). true uses the "cache" section; an object overrides some of its keys for this route.',
      }),
    ),
    compression: Type.Optional(
      Type.Union([Type.Boolean(), CompressionRouteSchema], {
        description:
          'Compression for this route (default: compression.enabled). false turns it off, true turns it on, an object overrides some keys of the "compression" section.',
      }),
    ),
    retryUnsafe: Type.Optional(
      Type.Boolean({
        description:
          'Also retry non-idempotent requests (POST, PATCH) after "error"/"timeout" failures, replaying a body of up to 64 KiB (default false: only connection failures, where nothing reached the server).',
      }),
    ),
    access: Type.Optional(AccessSchema),
    rateLimit: Type.Optional(
      Type.Union([RateLimitSchema, Type.Literal(false)], {
        description: "This route's own rate limit (its own buckets), or false for none; default: the global rateLimit.",
      }),
    ),
  },
  { description: 'Sends matching requests to an upstream. The most specific route wins: see README "Routing".' },
);

export const ConfigSchema = strict(
  {
    $schema: Type.Optional(Type.String({ description: "Path or URL of this file's JSON Schema, for editors." })),
    listen: strict(
      {
        host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address the proxy listens on (default "0.0.0.0").' }),
        port: Port('Port the proxy listens on (default 8080). Every worker listens on it (SO_REUSEPORT).', 8080),
        engine: Type.Union([Type.Literal('fulcrum'), Type.Literal('uws')], {
          default: 'fulcrum',
          description:
            'The HTTP engine facing clients (default "fulcrum": fulcrum\'s own HTTP/1.1 engine on node:net/node:tls). "uws": the uWebSockets.js front, with its limits (README "What the uWS engine cannot do"): no HTTP/1.0, pipelines closed, fixed 10 s header and keep-alive timeouts, at most 48 header fields.',
        }),
      },
      { description: 'The HTTP listener.', default: {} },
    ),
    workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 1024 })], {
      default: 'auto',
      description: 'Number of worker processes (default "auto": one per core, os.availableParallelism()).',
    }),
    admin: strict(
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
    ),
    upstreams: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), UpstreamSchema, {
      minProperties: 1,
      description: 'Named pools of backend servers.',
    }),
    routes: Type.Array(RouteSchema, { minItems: 1, description: 'Host/path rules that send requests to upstreams.' }),
    trustedProxies: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        "Addresses or CIDR ranges of proxies in front of fulcrum (default []). Only from these are incoming X-Forwarded-*, Forwarded and X-Real-IP fields kept (and X-Forwarded-For / Forwarded extended); from anyone else they are removed and replaced by fulcrum's own (upstreams.<name>.forwardedHeader, realIpHeader).",
    }),
    timeouts: strict(
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
    ),
    cache: CacheSchema,
    compression: CompressionSchema,
    access: Type.Optional(AccessSchema),
    limits: LimitsSchema,
    responses: strict(
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
    ),
    rateLimit: Type.Optional(RateLimitSchema),
    sharedState: Type.Optional(SharedStateSchema),
    tls: Type.Optional(TlsSchema),
    websocket: strict(
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
    ),
    logging: strict(
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
    ),
  },
  {
    title: 'fulcrum configuration',
    description: 'Configuration of the fulcrum reverse proxy and load balancer.',
  },
);

export type Config = Static<typeof ConfigSchema>;
export type UpstreamConfig = Static<typeof UpstreamSchema>;
export type ServerConfig = Static<typeof ServerSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type CacheConfig = Static<typeof CacheSchema>;
export type CompressionConfig = Static<typeof CompressionSchema>;
export type AccessConfig = Static<typeof AccessSchema>;
export type RateLimitConfig = Static<typeof RateLimitSchema>;
export type SharedStateConfig = Static<typeof SharedStateSchema>;

/** jsonSchema returns the JSON Schema document written to config.schema.json. */
export function jsonSchema(): TSchema {
  // Keys with a default may be left out of a config file: they are not "required" for editors.
  const relax = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(relax);
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = relax(v);
    const props = out.properties as Record<string, { default?: unknown }> | undefined;
    if (props && Array.isArray(out.required)) {
      out.required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
      if ((out.required as string[]).length === 0) delete out.required;
    }
    return out;
  };
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...(relax(ConfigSchema) as TSchema) };
}
