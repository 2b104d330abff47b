/**
 * H2ExchangeBase: what both HTTP/2 implementations' exchanges (h2-exchange.ts on node:http2,
 * stream-exchange.ts on fulcrum's own frame layer) share as ClientExchanges (engine/exchange.ts):
 * the request as readRequest maps it from the header list (h2-request.ts, RFC 9113 8.3), the
 * refusals the engine answers itself, a body that grows past limits.maxBodyBytes (413 before the
 * response, a reset after, as on HTTP/1.1), and the parts of the seam that are the same on any
 * stream (no cork needed, no connection to hand over).
 *
 * Extended CONNECT (RFC 8441): a stream readRequest accepted as `CONNECT` with `:protocol:
 * websocket` has `tunnel` set. Once the proxy answers it with a 2xx head and ResponseBody.Unknown
 * (proxy/tunnel.ts), the stream is a tunnel (`tunnelling`): its DATA both ways are the
 * WebSocket's bytes, not a request body (no maxBodyBytes), END_STREAM is a half-close each way
 * (no RST_STREAM NO_ERROR when our side ends first, RFC 8441 4 and 5), and an abort is
 * RST_STREAM CANCEL (RFC 8441 6: the HTTP/2 form of a TCP reset). Each implementation applies
 * those where its stream state lives.
 *
 * readRequest's MALFORMED (-1) is a stream error PROTOCOL_ERROR (RFC 9113 8.1.1), which nghttp2
 * already gives node:http2 and stream-exchange.ts sends itself.
 */
import { countRejection } from '../engine/engine-answers.js';
import { BODY_NONE, type ClientExchange, type ClientHandler, type ClientPeer, ResponseBody } from '../engine/exchange.js';
import { fieldValue } from '../engine/field-value.js';
import { nextSeq } from '../obs/request-id.js';
import type { H2Options } from './h2-options.js';
import { readRequest, refusalText } from './h2-request.js';

/** What an exchange reads from its connection (h2-session.ts's H2Connection, conn.ts's FrameConnection). */
export interface StreamOwner {
  readonly peer: ClientPeer;
  readonly secure: boolean;
  readonly options: H2Options;
  /** GOAWAY sent or about to be: responses carry no promise of more streams */
  readonly closing: boolean;
}

/** The response's progress, the same in both implementations. */
export const enum Res {
  Idle,
  Head,
  Body,
  /** complete (END_STREAM framed or queued), aborted, or the client left */
  Ended,
}

/** What admitWrite decided about a write of response body octets. */
export const enum Write {
  /** frame them */
  Send,
  /** nothing to do: no body is being written (not yet, or no more), or an empty piece */
  Ignore,
  /** more than the announced length: the exchange was aborted */
  Refused,
}

/** RFC 9113 7 error codes (node:http2's NGHTTP2_* constants have the same values; frames.ts has the others) */
const INTERNAL_ERROR = 0x2;
/** RFC 9113 7: what resets a tunnel (RFC 8441 6: a TCP reset's counterpart) */
export const CANCEL = 0x8;

export abstract class H2ExchangeBase implements Partial<ClientExchange> {
  method = '';
  target = '';
  readonly httpVersion = 'HTTP/2';
  /** an RFC 8441 extended CONNECT for a WebSocket (readRequest); false on every other stream */
  tunnel = false;
  readonly secure: boolean;
  fields: string[] = [];
  bodyLength = BODY_NONE;
  readonly peer: ClientPeer;
  readonly seq = nextSeq();
  readonly startedAt = performance.now();
  handler: ClientHandler | null = null;
  /** write() copies on both implementations: the caller's bytes are free when it returns */
  readonly keepsReferences = false;
  bytesWritten = 0;
  /** 0, the status the engine answers the request with itself, or MALFORMED (readRequest refused it) */
  readonly refused: number;

  protected res = Res.Idle;
  protected status = 0;
  protected sawDate = false;
  /** octets of the announced response length still to write, or -1 */
  protected remaining = -1;
  /** a write returned false: onClientWritable is owed */
  protected waiting = false;
  /** aborted by the handler, or the client left: no more events */
  protected cut = false;
  /** request body octets received */
  protected received = 0;
  /** a 2xx answered this extended CONNECT: the stream carries the tunnel's bytes (file comment) */
  protected tunnelling = false;

  constructor(
    protected readonly owner: StreamOwner,
    raw: readonly string[],
    endStream: boolean,
  ) {
    this.peer = owner.peer;
    this.secure = owner.secure;
    this.refused = readRequest(raw, endStream, owner.options.engine.limits, owner.options.webSockets, this);
  }

  get closing(): boolean {
    return this.owner.closing;
  }

  field(name: string): string {
    return fieldValue(this.fields, name);
  }

  cork(fn: () => void): void {
    fn(); // both implementations send what one event-loop turn framed together anyway
  }

  /** detach is null: an HTTP/2 stream is never handed over as a socket (a tunnel stays a stream, proxy/tunnel.ts) */
  detach(): null {
    return null;
  }

  abstract respond(code: number, reason: string, fields: readonly (string | Buffer)[], body: Buffer | string | null, close: boolean): void;

  /** resetStream ends the stream with RST_STREAM `code` (the implementation's own way) */
  protected abstract resetStream(code: number): void;

  /** clientGone ends the exchange because the client reset the stream or left */
  abstract clientGone(): void;

  /** respondError answers a request the engine refused itself (never given to the handler) or a body that grew too large */
  respondError(status: number): void {
    if (status !== 413) countRejection(status);
    const page = this.owner.options.engine.errorPage?.(status);
    const text = refusalText(status);
    this.res = Res.Idle;
    this.respond(status, text, ['content-type', page?.type ?? 'text/plain; charset=utf-8'], page?.body ?? `${status} ${text}\n`, true);
  }

  /** admitWrite counts `n` response body octets against the length the head announced (more: aborted, never cut silently) */
  protected admitWrite(n: number): Write {
    if (this.res !== Res.Body || n <= 0) return Write.Ignore;
    if (this.remaining >= 0) {
      if (n > this.remaining) {
        this.abort();
        return Write.Refused;
      }
      this.remaining -= n;
    }
    this.bytesWritten += n;
    return Write.Send;
  }

  /**
   * admitEnd: end() completes the response; true when its END_STREAM is now due (the response is
   * marked complete). A head still open is completed without a body; fewer octets than announced abort.
   */
  protected admitEnd(): boolean {
    if (this.res === Res.Head) this.endHead(ResponseBody.None, false);
    if (this.res !== Res.Body) return false;
    if (this.remaining > 0) {
      this.abort();
      return false;
    }
    this.res = Res.Ended;
    return true;
  }

  abstract abort(): void;
  abstract endHead(body: number, close: boolean): void;

  /** overLimit counts `n` more body octets; true (and the request refused) past limits.maxBodyBytes. A tunnel's bytes are no body. */
  protected overLimit(n: number): boolean {
    this.received += n;
    if (this.tunnel || this.received <= this.owner.options.engine.limits.maxBodyBytes) return false;
    // no Content-Length said so up front: 413 before the response, a reset after
    countRejection(413);
    const answered = this.res !== Res.Idle;
    this.clientGone();
    if (answered) this.resetStream(INTERNAL_ERROR);
    else this.respondError(413);
    return true;
  }
}
