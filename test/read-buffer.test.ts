/**
 * The shared upstream read buffer (src/worker/upstream/read-buffer.ts) with real sockets: two
 * upstream connections to a real origin read into one buffer; a response piece that a client
 * still references is retained, and stays byte-exact while the other connection keeps reading.
 * Without the lease the same piece is overwritten: the buffer really is shared.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FailureKind } from '../src/errors.js';
import type { UpstreamConnection, UpstreamHandler } from '../src/worker/upstream/connection.js';
import { ConnectionPool, type PoolWaiter } from '../src/worker/upstream/pool.js';
import { readBufferStats, release, retain } from '../src/worker/upstream/read-buffer.js';

const A_BYTES = 30_000;
const B_BYTES = 400_000;

/** Collector is the request a connection serves: it keeps a view of the first body piece. */
class Collector implements UpstreamHandler {
  bytes = 0;
  first: Buffer | null = null;
  snapshot: Buffer | null = null;
  onFirst: ((buf: Buffer) => void) | null = null;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: Error) => void;

  constructor() {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  onResponseHead(): boolean {
    return true;
  }
  onResponseBody(buf: Buffer, start: number, end: number): void {
    this.bytes += end - start;
    if (this.first !== null) return;
    this.first = buf.subarray(start, end);
    this.snapshot = Buffer.from(this.first);
    this.onFirst?.(buf);
  }
  onResponseEnd(): void {
    this.resolve();
  }
  onUpstreamFailure(kind: FailureKind, detail: string): void {
    this.reject(new Error(`${kind}: ${detail}`));
  }
  onUpstreamDrain(): void {}
  corked(fn: () => void): void {
    fn();
  }
}

const waiter: PoolWaiter = { poolCancelled: false, poolDeadline: 0, onPoolConnection: () => {}, onPoolTimeout: () => {} };

describe('shared upstream read buffer', () => {
  let server: http.Server;
  let pool: ConnectionPool;

  before(async () => {
    server = http.createServer((req, res) => {
      const n = req.url === '/a' ? A_BYTES : B_BYTES;
      res.setHeader('content-length', n);
      res.end(Buffer.alloc(n, req.url === '/a' ? 'a' : 'b'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    pool = new ConnectionPool({
      host: '127.0.0.1',
      port,
      maxConnections: 8,
      maxIdle: 8,
      idleTimeoutMs: 10_000,
      maxRequestsPerConnection: 100,
      connectTimeoutMs: 2000,
      responseTimeoutMs: 10_000,
    });
  });

  after(async () => {
    pool.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** send starts a request on a connection of its own (the pool has no idle one while others are busy) */
  function send(path: string, h: Collector): UpstreamConnection {
    const got = pool.acquire(waiter, true)!;
    got.conn.assign(h, false, false);
    got.conn.write(`GET ${path} HTTP/1.1\r\nhost: origin\r\n\r\n`);
    return got.conn;
  }

  /** run reads /a on one connection, pauses it on its first body piece (retained or not), reads /b on another */
  async function run(keep: boolean): Promise<{ a: Collector; b: Collector; lease: Buffer | null; aConn: UpstreamConnection; bConn: UpstreamConnection }> {
    const a = new Collector();
    let lease: Buffer | null = null;
    let aConn: UpstreamConnection | null = null;
    const paused = new Promise<void>((resolve) => {
      a.onFirst = (buf) => {
        if (keep) lease = retain(buf);
        aConn!.pause();
        resolve();
      };
    });
    aConn = send('/a', a);
    await paused;
    const b = new Collector();
    const bConn = send('/b', b);
    await b.done;
    assert.equal(b.bytes, B_BYTES);
    return { a, b, lease, aConn, bConn };
  }

  it('keeps a retained piece byte-exact while another connection reads', async () => {
    const { a, lease, aConn, bConn } = await run(true);
    assert.ok(lease !== null, 'the piece was in the shared buffer');
    assert.ok(a.first!.equals(a.snapshot!), 'the retained piece is unchanged');
    assert.ok(a.first!.every((c) => c === 0x61));
    // neither connection reads into the leased buffer any more
    assert.notEqual(aConn.readBuf, lease);
    assert.notEqual(bConn.readBuf, lease);
    assert.equal(aConn.readBuf, bConn.readBuf, 'both read into the one fresh shared buffer');
    assert.equal(readBufferStats().leased, 1);
    release(lease!);
    assert.equal(readBufferStats().leased, 0);
    assert.ok(readBufferStats().free >= 1, 'the released buffer is kept for reuse');
    aConn.resume();
    await a.done;
    assert.equal(a.bytes, A_BYTES);
  });

  it('without the lease the same piece is overwritten (the buffer is shared)', async () => {
    const { a, aConn } = await run(false);
    assert.ok(!a.first!.equals(a.snapshot!), 'the next reads of the other connection landed on the piece');
    aConn.resume();
    await a.done;
    assert.equal(a.bytes, A_BYTES);
  });

  it('a buffer that is not a read buffer is not leased', () => {
    assert.equal(retain(Buffer.alloc(16)), null);
  });
});
