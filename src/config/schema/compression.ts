/**
 * Config schema of "compression" and a route's "compression" overrides: encodings chosen by the client's
 * Accept-Encoding (RFC 9110 12.5.3), size bounds, content types and the compression pool.
 */
import { Type } from '@sinclair/typebox';
import { strict } from './common.js';

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
        "Compression threads per worker process (default \"auto\": the cores divided by the worker processes, at least 1): the lanes on which gzip, deflate and zstd whole bodies are compressed with reused codecs (on libuv's thread pool), and the size of brotli's piscina pool. 0 compresses brotli on the worker's main thread (for comparison; it blocks the event loop); gzip, deflate and zstd then use one lane.",
    }),
    gzipLevel: Type.Integer({ minimum: 1, maximum: 9, default: 6, description: 'gzip and deflate level (default 6).' }),
    brotliQuality: Type.Integer({ minimum: 0, maximum: 11, default: 5, description: 'Brotli quality (default 5; 11 is much slower).' }),
    zstdLevel: Type.Integer({ minimum: 1, maximum: 19, default: 3, description: "zstd level (default 3, zstd's own default), where Node.js has zstd." }),
  },
  { description: "Response compression (gzip, brotli, zstd, deflate) by the client's Accept-Encoding.", default: {} },
);
