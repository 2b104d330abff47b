/**
 * A worker's free list of 16 KiB pieces for HTTP/2 response bodies (h2-exchange.ts write()).
 *
 * node:http2 sends DATA later, from the memory it was given, so the exchange copies each piece of
 * a relayed body out of the shared upstream read buffer. Buffer.allocUnsafe gives a piece over
 * 4 KiB an ArrayBuffer of its own: at 16 KiB per response that is a fresh allocation, its first
 * page faults, and garbage collection of external memory for every response (about 4% of the
 * worker's busy time at 16 KiB with h2load, BENCHMARKS.md). node calls a write's callback once
 * it no longer refers to the bytes (sent, or dropped from the stream's queue when it was
 * destroyed), so the exchange gives the piece back then and the next response reuses it, still
 * in cache. A piece whose callback never comes (a write dropped on a destroyed stream) is left
 * to the garbage collector. At most FREE_MAX pieces wait here (4 MiB).
 */

/** the size of a piece: HTTP/2's default SETTINGS_MAX_FRAME_SIZE, one DATA frame */
export const PIECE_BYTES = 16 * 1024;
/** pieces below this come from node's shared 8 KiB pool (Buffer.allocUnsafe) as cheaply */
export const PIECE_MIN_BYTES = 4 * 1024 + 1;
const FREE_MAX = 256;

const free: Buffer[] = [];

/** takePiece returns a PIECE_BYTES buffer, reused or new; its bytes are undefined. */
export function takePiece(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(PIECE_BYTES);
}

/** givePiece returns a piece node no longer refers to. */
export function givePiece(b: Buffer): void {
  if (free.length < FREE_MAX) free.push(b);
}
