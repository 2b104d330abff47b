/**
 * The config contract, defined once: this file assembles the root from the sections in src/config/schema/
 * (one file per part of the config). `config.schema.json` is generated from it
 * (`npm run build` runs scripts/gen-schema.ts), and `validateConfig` (src/config/load.ts) validates against it, so the
 * editor's completion, `fulcrum check` and the running proxy can never disagree.
 *
 * Conventions: camelCase keys, units in the name (Ms, Bytes, Seconds), every key described with
 * its default, safe defaults, unknown keys refused.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { CacheSchema } from './schema/cache.js';
import { strict } from './schema/common.js';
import { CompressionSchema } from './schema/compression.js';
import { AccessSchema, LimitsSchema, RateLimitSchema } from './schema/guards.js';
import { AdminSchema, ListenSchema, SharedStateSchema } from './schema/listeners.js';
import { RouteSchema } from './schema/routes.js';
import { LoggingSchema, ResponsesSchema, TimeoutsSchema, WebSocketSchema } from './schema/serving.js';
import { Http2Schema, TlsSchema } from './schema/tls.js';
import { ServerSchema, UpstreamSchema } from './schema/upstreams.js';

export type { AccessLogField } from './schema/serving.js';
export { ServerSchema, UpstreamSchema };

export const ConfigSchema = strict(
  {
    $schema: Type.Optional(Type.String({ description: "Path or URL of this file's JSON Schema, for editors." })),
    listen: ListenSchema,
    workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 1024 })], {
      default: 'auto',
      description: 'Number of worker processes (default "auto": one per core, os.availableParallelism()).',
    }),
    admin: AdminSchema,
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
    timeouts: TimeoutsSchema,
    cache: CacheSchema,
    compression: CompressionSchema,
    access: Type.Optional(AccessSchema),
    limits: LimitsSchema,
    responses: ResponsesSchema,
    rateLimit: Type.Optional(RateLimitSchema),
    sharedState: Type.Optional(SharedStateSchema),
    tls: Type.Optional(TlsSchema),
    http2: Http2Schema,
    websocket: WebSocketSchema,
    logging: LoggingSchema,
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
