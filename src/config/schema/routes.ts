/**
 * Config schema of "routes": host and path-prefix rules (as nginx's server_name and prefix location) that
 * send requests to an upstream, with their per-route cache, compression, access and rate-limit overrides.
 */
import { Type } from '@sinclair/typebox';
import { CacheRouteSchema } from './cache.js';
import { strict } from './common.js';
import { CompressionRouteSchema } from './compression.js';
import { AccessSchema, RateLimitSchema } from './guards.js';

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
