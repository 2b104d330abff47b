/**
 * The worker's upstream read buffer: every upstream socket reads into one shared 64 KiB buffer
 * (node:net's `onread`), so a read allocates nothing, and response pieces are written to clients
 * straight from it, without a copy.
 *
 * An engine that writes from the caller's memory (ClientExchange.keepsReferences: node:net,
 * node:http2) still references a piece it could not send at once, until the client drains. Then
 * the piece must not be overwritten by the next read of any socket: `retain` retires the current
 * buffer (every live socket switches to a fresh one, as node:net's own `onread` set-up does with
 * the handle's useUserBuffer) and returns it as a lease; `release` recycles it once the client took
 * the bytes. Retired buffers are recycled through a bounded free list, so a stall costs no fresh
 * 64 KiB allocation (glibc returning and re-faulting that memory halved throughput on large
 * bodies; BENCHMARKS.md, "Recycled spill buffers").
 *
 * Where the socket handle cannot switch buffers (no useUserBuffer), each connection reads into a
 * buffer of its own instead: the paused connection then keeps its bytes by itself, and retain has
 * nothing to do.
 */
import type net from 'node:net';

export const READ_BUFFER_BYTES = 64 * 1024;
/** retired buffers kept for reuse */
const FREE_KEEP = 16;

/** A reader of the shared buffer (UpstreamConnection). */
export interface BufferReader {
  readonly socket: net.Socket;
  /** the buffer the socket reads into now */
  readBuf: Buffer;
}

interface SwitchableHandle {
  useUserBuffer(buf: Uint8Array): void;
}

let current: Buffer | null = null;
const free: Buffer[] = [];
/** retired buffers still leased, and how many leases each has */
const leased = new Map<Buffer, number>();
const readers = new Set<BufferReader>();
/** null until the first socket showed whether its handle can switch buffers */
let shared: boolean | null = null;

function fresh(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
}

/** readBufferFor returns the buffer a new connection reads into (the shared one, or its own). */
export function readBufferFor(): Buffer {
  if (shared === false) return Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  return (current ??= fresh());
}

/**
 * addReader registers a connection whose socket was just created with readBufferFor()'s buffer.
 * The first one decides whether buffers can be switched (node's TCP handle has useUserBuffer in
 * Node 20 and later: lib/net.js calls it in initSocketHandle).
 */
export function addReader(r: BufferReader): void {
  if (shared === null) shared = typeof (r.socket as unknown as { _handle?: Partial<SwitchableHandle> })._handle?.useUserBuffer === 'function';
  if (shared) readers.add(r);
}

/** removeReader forgets a connection whose socket closed. */
export function removeReader(r: BufferReader): void {
  readers.delete(r);
}

/**
 * retain keeps `buf` (a buffer a reader read into) unchanged until release: when it is the shared
 * buffer, every live socket reading into it switches to a fresh one. Returns the lease to release
 * (the same buffer), or null when there is nothing to keep (connections own their buffers).
 */
export function retain(buf: Buffer): Buffer | null {
  if (shared !== true) return null;
  const n = leased.get(buf);
  if (n !== undefined) {
    leased.set(buf, n + 1);
    return buf;
  }
  if (buf !== current) return null; // not a read buffer of ours
  const next = fresh();
  current = next;
  leased.set(buf, 1);
  for (const r of readers) {
    if (r.readBuf !== buf) continue;
    const h = (r.socket as unknown as { _handle?: SwitchableHandle | null })._handle;
    if (h == null) continue; // closed: it reads nothing more
    h.useUserBuffer(next);
    r.readBuf = next;
  }
  return buf;
}

/** release ends a lease taken by retain; the buffer is recycled when no lease is left. */
export function release(buf: Buffer): void {
  const n = leased.get(buf);
  if (n === undefined) return;
  if (n > 1) {
    leased.set(buf, n - 1);
    return;
  }
  leased.delete(buf);
  if (free.length < FREE_KEEP) free.push(buf);
}

/** readBufferStats: for tests (buffers leased now, buffers free) */
export function readBufferStats(): { leased: number; free: number } {
  return { leased: leased.size, free: free.length };
}
