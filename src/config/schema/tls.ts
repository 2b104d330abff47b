/**
 * Config schema of "tls" (HTTPS listener, SNI certificates, ALPN, HSTS) and "http2" (RFC 9113 settings
 * and the defences against rapid reset, CVE-2023-44487, and control-frame floods).
 */
import { Type } from '@sinclair/typebox';
import { Port, strict } from './common.js';

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
    http2: Type.Boolean({
      default: true,
      description:
        'Offer HTTP/2 by ALPN on the HTTPS listener (default true; listen.engine "fulcrum" only). false: HTTP/1.1 only. Settings and defences in the "http2" section.',
    }),
    alpn: Type.Array(Type.Union([Type.Literal('h2'), Type.Literal('http/1.1')]), {
      minItems: 1,
      uniqueItems: true,
      default: ['h2', 'http/1.1'],
      description:
        'ALPN protocols offered, in order of preference (default ["h2", "http/1.1"]). The client\'s first protocol that is in this list wins (OpenSSL\'s server-side choice follows the server\'s order). "h2" is dropped when tls.http2 is false.',
    }),
  },
  {
    description:
      'TLS termination: an HTTPS listener beside the HTTP one, HTTP/2 and HTTP/1.1 by ALPN. Certificates are read again on reload (SIGHUP) without dropping connections.',
  },
);

export const Http2Schema = strict(
  {
    implementation: Type.Union([Type.Literal('node'), Type.Literal('fulcrum')], {
      default: 'fulcrum',
      description:
        'Which HTTP/2 implementation serves clients (default "fulcrum"): "fulcrum" is fulcrum\'s own frame layer and HPACK (src/worker/h2/), "node" drives node:http2 (nghttp2) instead, with the same mapping, limits and defences. Read for each new connection.',
    }),
    maxConcurrentStreams: Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 128,
      description:
        "Most streams (requests) a client may have open at once on one HTTP/2 connection (default 128, as nginx's http2_max_concurrent_streams). Announced in SETTINGS; a stream beyond it is refused (REFUSED_STREAM), and a client that keeps opening them is disconnected.",
    }),
    maxHeaderListBytes: Type.Integer({
      minimum: 1024,
      maximum: 1048576,
      default: 32768,
      description:
        'Largest request header list accepted, decompressed, counted as RFC 9113 6.5.2 does (name + value + 32 per field) (default 32768). Announced as SETTINGS_MAX_HEADER_LIST_SIZE; a larger request is reset (ENHANCE_YOUR_CALM) and never reaches a server. limits.maxHeaders bounds the number of fields as for HTTP/1.1.',
    }),
    webSockets: Type.Boolean({
      default: true,
      description:
        'WebSockets over HTTP/2 (RFC 8441 extended CONNECT, default true): SETTINGS_ENABLE_CONNECT_PROTOCOL is announced and a CONNECT stream with :protocol websocket is proxied as a WebSocket upgrade (README "WebSockets"). false: not announced, so browsers open WebSockets over HTTP/1.1, and :protocol is a malformed request.',
    }),
    resetBurst: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 200,
      description:
        'Rapid reset defence (CVE-2023-44487): how many streams a client may cancel (RST_STREAM before the response is complete) in a burst (default 200). Beyond it, and beyond resetRatePerSecond, the connection gets GOAWAY (ENHANCE_YOUR_CALM) and is closed.',
    }),
    resetRatePerSecond: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 50,
      description: 'Rapid reset defence: cancelled streams per second allowed over time, refilling resetBurst (default 50).',
    }),
    controlFrameBurst: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 100,
      description:
        'PING and SETTINGS flood defence: how many PING and SETTINGS frames a client may send in a burst (default 100). Beyond it, and beyond controlFrameRatePerSecond, the connection gets GOAWAY (ENHANCE_YOUR_CALM) and is closed.',
    }),
    controlFrameRatePerSecond: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 20,
      description: 'PING and SETTINGS flood defence: such frames per second allowed over time, refilling controlFrameBurst (default 20).',
    }),
  },
  {
    description:
      'HTTP/2 to clients (tls.http2, listen.h2c): limits and defences against the known HTTP/2 attacks (README "HTTP/2"). Read for each new connection: a reload applies to connections opened after it.',
    default: {},
  },
);
