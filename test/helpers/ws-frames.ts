/**
 * A minimal WebSocket client over any byte stream (RFC 6455 5): frames written by hand, masked as
 * a client must, and the server's (unmasked) frames read back, with fragmented messages
 * reassembled. For tests that carry a WebSocket over an HTTP/2 stream (RFC 8441), where the `ws`
 * client cannot be used: it opens its own TCP or TLS connection.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { Waiters } from './wait.js';

export const enum Op {
  Text = 1,
  Binary = 2,
  Close = 8,
}

/** wsFrame encodes one final, masked client frame. */
export function wsFrame(op: number, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = p.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + n);
  out[0] = 0x80 | op;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = p[i]! ^ mask[i & 3]!;
  return out;
}

/** closeFrame: a masked close frame with a code and reason */
export function closeFrame(code: number, reason = ''): Buffer {
  const r = Buffer.from(reason);
  const p = Buffer.allocUnsafe(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return wsFrame(Op.Close, p);
}

export interface WsMessage {
  op: number;
  data: Buffer;
}

/** WsReader collects the messages a server sends on `stream` (data frames reassembled; control frames as they come). */
export class WsReader {
  readonly messages: WsMessage[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private partOp = 0;
  private readonly waits = new Waiters();
  ended = false;

  constructor(stream: Duplex) {
    stream.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private parse(): void {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let n = b[1]! & 0x7f;
      let at = 2;
      if (n === 126) {
        if (b.length < 4) return;
        n = b.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (b.length < 10) return;
        n = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b[1]! & 0x80) throw new Error('a server frame was masked');
      if (b.length < at + n) return;
      const fin = (b[0]! & 0x80) !== 0;
      const op = b[0]! & 0x0f;
      const payload = b.subarray(at, at + n);
      this.buf = b.subarray(at + n);
      if (op >= 8) this.messages.push({ op, data: payload });
      else {
        if (op !== 0) this.partOp = op;
        this.parts.push(payload);
        if (fin) {
          this.messages.push({ op: this.partOp, data: Buffer.concat(this.parts) });
          this.parts = [];
        }
      }
    }
  }

  /** next resolves with the message after the first `seen`, within timeoutMs. */
  next(seen: number, timeoutMs = 10_000): Promise<WsMessage> {
    return this.until(() => this.messages.length > seen, timeoutMs, `message ${seen + 1}`).then(() => this.messages[seen]!);
  }

  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waits.until(cond, timeoutMs, what, () => ` (${this.messages.length} messages, ended ${this.ended})`);
  }

  private wake(): void {
    this.waits.wake();
  }
}
