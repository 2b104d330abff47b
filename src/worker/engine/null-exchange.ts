/**
 * NullExchange is an exchange with nobody behind it: the request of a stale-while-revalidate
 * background refresh (RFC 5861 3), which the cache sends for itself after answering the client
 * from memory. The request is the client's (its fields, address and target); everything written
 * to it is dropped, it never backs up and it never aborts.
 */
import { nextSeq } from '../obs/request-id.js';
import { fieldValue } from './field-value.js';
import { BODY_NONE, type ClientExchange, type ClientHandler, type ClientPeer } from './exchange.js';

/** The request a NullExchange carries (a client's, as the cache kept it). */
export interface NullRequest {
  readonly method: string;
  readonly target: string;
  readonly secure: boolean;
  readonly fields: readonly string[];
  readonly peer: ClientPeer;
}

export class NullExchange implements ClientExchange {
  readonly method: string;
  readonly target: string;
  readonly httpVersion = 'HTTP/1.1';
  readonly secure: boolean;
  readonly fields: readonly string[];
  readonly bodyLength = BODY_NONE;
  readonly tunnel = false;
  readonly peer: ClientPeer;
  readonly seq = nextSeq();
  readonly startedAt = performance.now();
  readonly keepsReferences = false;
  readonly closing = false;
  handler: ClientHandler | null = null;
  bytesWritten = 0;

  constructor(req: NullRequest) {
    this.method = req.method;
    this.target = req.target;
    this.secure = req.secure;
    this.fields = req.fields;
    this.peer = req.peer;
  }

  field(name: string): string {
    return fieldValue(this.fields, name);
  }

  readBody(): void {}
  pauseBody(): void {}
  resumeBody(): void {}
  writeInterim(): void {}
  writeStatus(): void {}
  writeHeader(): void {}
  endHead(): void {}
  write(_buf: Buffer, start: number, end: number): boolean {
    this.bytesWritten += end - start;
    return true;
  }
  end(): void {}
  respond(): void {}
  abort(): void {}
  cork(fn: () => void): void {
    fn();
  }
  detach(): null {
    return null;
  }
}
