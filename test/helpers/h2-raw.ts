/**
 * Raw-frame helpers shared by the frame-layer tests (test/h2-frames.test.ts) and the h2spec
 * conformance suite (test/h2-conformance.test.ts, test/helpers/h2spec*.ts): RFC 9113 section 7
 * error codes, 6.5.1 settings and 6.9 window increments as bytes, and what a raw client received
 * on one stream (status, body, END_STREAM, RST_STREAM code).
 */
import { END_STREAM, Frame, type RawH2 } from './h2.js';

export const DATA = 0;
export const PRIORITY = 2;
export const PUSH_PROMISE = 5;
export const WINDOW_UPDATE = 8;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

// error codes (RFC 9113 7)
export const NO_ERROR = 0;
export const PROTOCOL_ERROR = 1;
export const FLOW_CONTROL_ERROR = 3;
export const STREAM_CLOSED = 5;
export const FRAME_SIZE_ERROR = 6;
export const REFUSED_STREAM = 7;
export const CANCEL = 8;
export const COMPRESSION_ERROR = 9;
export const ENHANCE_YOUR_CALM = 0xb;

export const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

/** setting: one SETTINGS parameter (RFC 9113 6.5.1: 16-bit identifier, 32-bit value) */
export const setting = (id: number, v: number): Buffer => Buffer.concat([Buffer.from([id >> 8, id & 0xff]), u32(v)]);

/** the response on a stream: status (from an indexed :status or a literal), body, END_STREAM seen, RST code */
export function response(c: RawH2, id: number): { status: number; body: Buffer; ended: boolean; rst: number | null } {
  let status = 0;
  const parts: Buffer[] = [];
  let ended = false;
  let rst: number | null = null;
  for (const f of c.frames) {
    if (f.stream !== id) continue;
    if (f.type === Frame.Headers) {
      const b = f.payload[0]!;
      // static :status indices (RFC 7541 Appendix A): 0x88 200, 0x89 204, 0x8c 400, 0x8d 404
      const idx: Record<number, number> = { 136: 200, 137: 204, 140: 400, 141: 404 };
      status = idx[b] ?? Number(f.payload.subarray(2, 5).toString());
    }
    if (f.type === DATA) parts.push(f.payload);
    if ((f.type === DATA || f.type === Frame.Headers) && f.flags & END_STREAM) ended = true;
    if (f.type === Frame.RstStream) rst = f.payload.readUInt32BE(0);
  }
  return { status, body: Buffer.concat(parts), ended, rst };
}
