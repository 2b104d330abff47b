/**
 * Config schema of the guards a request meets before a server: address allow/deny lists ("access",
 * global and per route, as nginx's allow/deny), request size limits ("limits") and the per-client
 * token-bucket rate limit ("rateLimit", global and per route).
 */
import { Type } from '@sinclair/typebox';
import { strict } from './common.js';

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
        'Most connections one client address may have busy (a request in flight) at once over all workers (default 256; 0: no limit). An HTTP/2 connection counts once however many streams it carries (http2.maxConcurrentStreams bounds those); on listen.engine "uws" each request counts (uWS serves one at a time per connection). The excess is closed at once (an HTTP/2 stream is reset). Tolerance: up to workers - 1 over the limit.',
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
