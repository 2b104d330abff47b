/**
 * The seam between an engine and the proxy: the client side of one request/response exchange.
 *
 * An engine (fulcrum's own HTTP/1.1 connection, an HTTP/2 stream, the opt-in uWS front) turns
 * each request it parsed into one ClientExchange and hands it to the worker's request handler.
 * The proxy, the cache and compression read the request from it and write the response to it;
 * they never see a socket, a uWS object or an HTTP/2 stream. An exchange with no client behind
 * it (a stale-while-revalidate background refresh) is a real implementation too (NullExchange),
 * not an impersonation.
 *
 * Rules every implementation keeps:
 * - The request (method, target, fields, peer) stays valid until the exchange ends: an engine that
 *   parses into a reused buffer copies what it hands out (strings), once.
 * - Body pieces given to ClientHandler.onClientBody are valid only during the call.
 * - write() never copies what the client socket takes at once. When it returns false the client is
 *   backed up: wait for onClientWritable before writing more. If `keepsReferences` is true, the
 *   bytes of that last write are still referenced by the socket until onClientWritable (node:net
 *   and node:http2 write from the caller's memory): the caller must keep them unchanged until then
 *   (the proxy pauses the upstream socket and retires the shared read buffer it read them into).
 *   Engines that copy on back-pressure (uWS) or drop everything (NullExchange) say false.
 *   When the last write before end() returned false, onClientWritable (or onClientAborted) still
 *   follows end(), once that tail has left: the caller holds its bytes (and counts the request in
 *   flight) until then.
 * - Every callback goes to one ClientHandler object (no closure per request).
 * - An exchange ends exactly once: after end() or respond() (response complete), abort() (closed
 *   abruptly) or onClientAborted (the client left). After that, calls are ignored.
 */

/** ClientPeer is the client's address, read once per connection (not per request). */
export interface ClientPeer {
  /** 4 (IPv4) or 16 (IPv6) bytes, as the CIDR matchers take them */
  readonly bytes: Uint8Array;
  /** the formatted address: "203.0.113.7", "2001:db8::1" (IPv4-mapped IPv6 shown as IPv4) */
  readonly ip: string;
  /**
   * Per-connection memo for the worker's edge checks (trusted proxy? allowed by the global
   * access list?), valid for one config generation: the worker fills it, engines only create it.
   */
  gen: number;
  trusted: boolean;
  allowed: boolean;
  /**
   * This connection's requests in flight counted against limits.maxConnectionsPerClient (the
   * worker's guard/client-limiter.ts): the connection counts once while it is > 0, however many
   * HTTP/2 streams it carries. -1: the engine shares one peer between connections (uWS), so each
   * request counts on its own.
   */
  busy: number;
}

/** ClientHandler receives an exchange's events (ProxyRequest, the cache's waiters, the tunnel). */
export interface ClientHandler {
  /**
   * A piece of the request body, decoded (chunk framing removed); valid only during the call.
   * `last` is true on the final call (which may carry no bytes). Trailers are dropped.
   */
  onClientBody(buf: Buffer, start: number, end: number, last: boolean): void;
  /** The client can take more response bytes after write() returned false. */
  onClientWritable(): void;
  /** The client went away (or the engine gave up on it) before the response ended. */
  onClientAborted(): void;
}

/** BODY_NONE / BODY_CHUNKED: values of ClientExchange.bodyLength besides a Content-Length. */
export const BODY_NONE = 0;
/** the request body's length is unknown: chunked on HTTP/1.1, or an HTTP/2 stream without content-length */
export const BODY_UNKNOWN = -1;

/** Response body framing for endHead(). */
export const enum ResponseBody {
  /** no body follows (HEAD, 204, 304, or a complete response written with end()); Content-Length only if the caller wrote one */
  None = -2,
  /** the length is unknown: chunked on HTTP/1.1, close-delimited on HTTP/1.0, DATA frames on HTTP/2 */
  Unknown = -1,
  // n >= 0: exactly n bytes follow; the engine writes Content-Length: n
}

export interface ClientExchange {
  // ---- the request ------------------------------------------------------------------------

  /** the method, case as received (methods are case-sensitive, RFC 9110 9.1) */
  readonly method: string;
  /** the request target exactly as received (origin-form path and query; "?" kept when the query is empty) */
  readonly target: string;
  /** "HTTP/1.0", "HTTP/1.1" or "HTTP/2", as the access log writes it */
  readonly httpVersion: string;
  /** the connection is TLS ("https" in X-Forwarded-Proto) */
  readonly secure: boolean;
  /**
   * the request asks for a tunnel: HTTP/1.1 with Upgrade and Connection: upgrade, no body, whose
   * connection the engine can hand over after a 101 (detach()); or an HTTP/2 extended CONNECT
   * with :protocol websocket (RFC 8441; method "CONNECT"), whose stream becomes the tunnel after a
   * 2xx head written with ResponseBody.Unknown: the request body and write() are then the
   * tunnel's bytes (no maxBodyBytes), end() and the body's end are half-closes, abort() is
   * RST_STREAM CANCEL. false on other HTTP/2 streams, the uWS front (its own WebSocket route
   * takes upgrades) and NullExchange.
   */
  readonly tunnel: boolean;
  /**
   * The request's header fields in the order received: [name, value, name, value, ...], names
   * lowercase, values with surrounding whitespace removed. Everything the client sent is here,
   * hop-by-hop fields included (the proxy's head builder drops them). HTTP/2: pseudo-header
   * fields are not included; :authority appears as "host".
   */
  readonly fields: readonly string[];
  /** request body: BODY_NONE, a Content-Length (> 0), or BODY_UNKNOWN (chunked) */
  readonly bodyLength: number;
  readonly peer: ClientPeer;
  /** a per-worker sequence number, for the request id (every answer carries it, edge answers too) */
  readonly seq: number;
  /** performance.now() when the request head was complete */
  readonly startedAt: number;
  /** field returns a request field's value ("" when absent; several lines joined with ", ", cookie with "; ") */
  field(name: string): string;

  // ---- events and the request body --------------------------------------------------------

  /** handler receives every event from now on; set before reading the body or writing. */
  handler: ClientHandler | null;
  /**
   * readBody starts delivering the body to the handler (sends 100 Continue first when the client
   * asked for it, RFC 9110 10.1.1). Without a call, a body is never read (and a response that
   * ends before it was read closes the connection afterwards, HTTP/1.1).
   */
  readBody(): void;
  /** pauseBody / resumeBody: back-pressure on the request body (the upstream socket is full) */
  pauseBody(): void;
  resumeBody(): void;

  // ---- the response -----------------------------------------------------------------------

  /** writeInterim sends a 1xx response (not 101) with its fields; ignored on HTTP/1.0 clients. */
  writeInterim(status: number, reason: string, fields: readonly (string | Buffer)[]): void;
  /** writeStatus starts the response head */
  writeStatus(code: number, reason: string): void;
  /**
   * writeHeader adds a field to the head. Values are written as given (the caller relays what a strict
   * parser accepted, or its own values). Connection-level fields (Connection, Keep-Alive,
   * Transfer-Encoding, Content-Length) are the engine's: do not write them, except Content-Length
   * with ResponseBody.None (HEAD, 304). A "date" field replaces the engine's own Date.
   */
  writeHeader(name: string, value: string | Buffer): void;
  /**
   * endHead completes the head: `body` is ResponseBody.None, ResponseBody.Unknown, or the exact
   * length. `close` asks to close the connection after this response (HTTP/1.1: Connection: close).
   * The head may be held back and leave with the first body bytes (one send).
   */
  endHead(body: number, close: boolean): void;
  /**
   * write sends body bytes buf[start, end); false when the client is backed up: wait for
   * onClientWritable before writing more (and see `keepsReferences`).
   */
  write(buf: Buffer, start: number, end: number): boolean;
  /** after a write() that returned false, the written bytes stay referenced until onClientWritable */
  readonly keepsReferences: boolean;
  /** end completes the response (with ResponseBody.Unknown: writes the last chunk / ends the stream) */
  end(): void;
  /**
   * respond writes a whole small response fulcrum generated (edge answers, errors, cache hits
   * from memory): status, fields, body, in one send; `close` as for endHead.
   */
  respond(code: number, reason: string, fields: readonly (string | Buffer)[], body: Buffer | string | null, close: boolean): void;
  /**
   * abort ends the exchange abruptly: the connection is closed (HTTP/2: the stream is reset), so
   * that a client never mistakes a truncated response for a complete one.
   */
  abort(): void;
  /**
   * cork runs fn at once, with writes batched into one send at its end (everything one upstream
   * read produces reaches the client together).
   */
  cork(fn: () => void): void;
  /** bytes of the response body written so far (the access log's bytesOut) */
  readonly bytesWritten: number;
  /** the engine is draining: the response will carry Connection: close whatever the caller says */
  readonly closing: boolean;
  /**
   * detach hands over the client connection for a tunnel (WebSocket after the server's 101; HTTP/1.1
   * only): call after writing the 101 head with endHead(ResponseBody.None, false). Returns the socket
   * and the bytes the client sent after the request head (already read), and ends the exchange; the
   * engine forgets the connection. null where the engine cannot (HTTP/2 streams: their tunnel stays
   * a stream, see `tunnel`; the uWS front).
   */
  detach(): { socket: import('node:stream').Duplex; head: Buffer } | null;
}

/** RequestHandler is what an engine calls for each request it parsed (the worker's dispatcher). */
export type RequestHandler = (ex: ClientExchange) => void;
