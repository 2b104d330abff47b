/**
 * Unit tests of compression's parts that need no process (src/worker/compress/): negotiation by
 * Accept-Encoding q-values with zstd (RFC 9110 12.5.3), zstd offered only where Node.js has it,
 * the flushed types, the reusable node:zlib codecs (a FINISH flush, reset, and the next response
 * on the same codec; whole bodies on one codec one after another), and the stream encoder's flow control against an exchange that backs up.
 * zstd runs where the runtime has it (Node.js 22.15 / 23.8 and later: scripts/with-node.sh 24 node
 * scripts/run-tests.mjs compress-codecs) and is skipped with the reason elsewhere.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { validateConfig } from '../src/config/load.js';
import { CodecPool, ZSTD_AVAILABLE, type CodecOwner } from '../src/worker/compress/codecs.js';
import { compressSync } from '../src/worker/compress/brotli-sync.js';
import { compressibleType, compressionPolicy, flushedType, negotiate, type Alg } from '../src/worker/compress/negotiate.js';
import { StreamEncoder } from '../src/worker/compress/stream-encoder.js';
import { WholeEncoder } from '../src/worker/compress/whole-encoder.js';
import { NullExchange } from '../src/worker/engine/null-exchange.js';
import type { EncoderOwner } from '../src/worker/proxy/response-writer.js';

const NO_ZSTD = ZSTD_AVAILABLE ? false : `Node.js ${process.versions.node} has no zstd (node:zlib has it from 22.15 / 23.8)`;
const LEVELS = { gzipLevel: 6, brotliQuality: 5, zstdLevel: 3 };

interface ZstdDecode {
  zstdDecompressSync(b: Buffer): Buffer;
}

function decode(alg: Alg, b: Buffer): Buffer {
  switch (alg) {
    case 'gzip':
      return zlib.gunzipSync(b);
    case 'deflate':
      return zlib.inflateSync(b);
    case 'br':
      return zlib.brotliDecompressSync(b);
    default:
      return (zlib as unknown as ZstdDecode).zstdDecompressSync(b);
  }
}

/** json returns n bytes of JSON records with some variety (compresses to about a fifth). */
function json(n: number, seed = 1): Buffer {
  let s = '[';
  for (let i = 0; s.length < n; i++)
    s += `${i ? ',' : ''}{"id":${i * seed},"hash":"${((i * 2654435761 * seed) >>> 0).toString(16)}","tags":["a${i % 7}","b${i % 13}"]}`;
  return Buffer.from(s.slice(0, n));
}

/** until waits for cond, at most 5 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const ALGS: [Alg, string | false][] = [
  ['gzip', false],
  ['deflate', false],
  ['br', false],
  ['zstd', NO_ZSTD],
];

describe('negotiation', () => {
  const all: Alg[] = ['br', 'zstd', 'gzip', 'deflate'];
  for (const [ae, expected] of [
    ['zstd', 'zstd'],
    ['gzip, deflate, br, zstd', 'br'],
    ['zstd;q=1, br;q=0.5, gzip;q=0.9', 'zstd'],
    ['zstd;q=0, gzip', 'gzip'],
    ['*', 'br'],
    ['identity', null],
  ] as const) {
    it(`"${ae}" gets ${expected ?? 'identity'}`, () => {
      assert.equal(negotiate(ae, all), expected);
    });
  }

  it('offers zstd only where Node.js has it', () => {
    const cfg = validateConfig({ upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }] } }, routes: [{ upstream: 'app' }] }).raw;
    const p = compressionPolicy(cfg, cfg.routes[0]!)!;
    assert.deepEqual(p.algorithms, ZSTD_AVAILABLE ? ['br', 'zstd', 'gzip', 'deflate'] : ['br', 'gzip', 'deflate']);
    const only = validateConfig({
      upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }] } },
      routes: [{ upstream: 'app', compression: { algorithms: ['zstd'] } }],
    }).raw;
    assert.equal(compressionPolicy(only, only.routes[0]!) === null, !ZSTD_AVAILABLE, 'a route offering only zstd compresses nothing without it');
  });

  it('compresses text/event-stream and flushes it, by default', () => {
    const cfg = validateConfig({ upstreams: { app: { servers: [{ url: 'http://127.0.0.1:9001' }] } }, routes: [{ upstream: 'app' }] }).raw;
    const p = compressionPolicy(cfg, cfg.routes[0]!)!;
    assert.equal(compressibleType(p, 'text/event-stream; charset=utf-8'), true);
    assert.equal(flushedType(p, 'Text/Event-Stream'), true);
    assert.equal(flushedType(p, 'application/json'), false);
    assert.equal(compressibleType(p, 'image/png'), false);
  });
});

describe('codecs', () => {
  it('br: a whole body compressed by the pool task decodes byte-exact', () => {
    const body = json(100_000);
    assert.ok(decode('br', compressSync({ input: body, brotliQuality: LEVELS.brotliQuality })).equals(body));
  });
  for (const [alg, skip] of ALGS) {
    if (alg === 'br') continue;
    it(`${alg}: whole bodies queued for one lane, on its reused codec, decode byte-exact`, { skip }, async () => {
      const whole = new WholeEncoder(LEVELS, 1);
      const bodies = [json(100_000), json(3_000), Buffer.alloc(0), json(70_000), json(1_500)];
      // all at once: they queue for the one lane, and each decodes to its own body
      const outs = await Promise.all(bodies.map((b) => whole.encode(b, alg)));
      for (let i = 0; i < bodies.length; i++) {
        const out = outs[i]!;
        assert.ok(decode(alg, out).equals(bodies[i]!), `${bodies[i]!.length} bytes decode byte-exact`);
        assert.equal(out.byteOffset, 0, 'a buffer of its own');
        assert.equal(out.buffer.byteLength, out.length, 'a buffer of its own');
      }
      whole.close();
    });
  }
  for (const [alg, skip] of ALGS) {
    it(`${alg}: a codec finishes a response, is reset and compresses the next one as a fresh one would`, { skip }, async () => {
      const pool = new CodecPool(LEVELS);
      const out: Buffer[] = [];
      let written = 0;
      const owner: CodecOwner = {
        onCodecOutput: (c) => out.push(Buffer.from(c)),
        onCodecWritten: () => written++,
        onCodecError: (err) => assert.fail(err),
      };
      const body = json(200_000);
      const results: Buffer[] = [];
      let c = pool.take(alg);
      for (let round = 0; round < 2; round++) {
        c.owner = owner;
        written = 0;
        out.length = 0;
        c.write(body.subarray(0, 70_000));
        c.flush();
        c.write(body.subarray(70_000));
        c.finish();
        await until(() => written === 4, 'the codec');
        results.push(Buffer.concat(out));
        assert.ok(decode(alg, results[round]!).equals(body), `response ${round} decodes byte-exact`);
        pool.give(c);
        const next = pool.take(alg);
        // node:zlib's brotli reset forgets the quality and window: a brotli codec is never reused
        assert.equal(next === c, alg !== 'br', alg === 'br' ? 'a new brotli codec' : 'the same codec is reused');
        c = next;
      }
      assert.ok(results[1]!.equals(results[0]!), 'the reused codec compresses with the same parameters');
      pool.close();
    });
  }
});

/** An exchange that records the body and backs up on demand. */
class RecordingExchange extends NullExchange {
  readonly body: Buffer[] = [];
  full = false;
  ended = false;
  constructor() {
    super({
      method: 'GET',
      target: '/',
      secure: false,
      fields: [],
      peer: { bytes: new Uint8Array(4), ip: '127.0.0.1', gen: 0, trusted: false, allowed: true, busy: 0 },
    });
  }
  override write(buf: Buffer, start: number, end: number): boolean {
    this.body.push(Buffer.from(buf.subarray(start, end)));
    return !this.full;
  }
  override end(): void {
    this.ended = true;
  }
}

describe('stream encoder', () => {
  for (const [alg, skip] of ALGS) {
    it(`${alg}: pauses the server for a backed-up client and resumes when it drains`, { skip }, async () => {
      const pool = new CodecPool(LEVELS);
      const ex = new RecordingExchange();
      const owner: EncoderOwner & { drains: number; done: boolean } = {
        bytesOut: 0,
        drains: 0,
        done: false,
        onEncoderDrain() {
          this.drains++;
        },
        onEncoderDone() {
          this.done = true;
        },
        onEncoderFailed: () => assert.fail('failed'),
      };
      let kept: Buffer | null = null;
      const enc = new StreamEncoder(pool, alg, false, { onVariant: (_a, b) => (kept = b) }, 1 << 20);
      enc.start(ex, owner);
      // brotli holds about a megabyte before its first output
      const body = json(4_000_000);
      const piece = 64 * 1024;
      ex.full = true; // the client takes nothing
      let at = 0;
      // pieces as reads deliver them; a pause for the busy codec ends with a resume, a pause for
      // the backed-up client does not
      for (;;) {
        assert.ok(at < body.length, 'the encoder stopped the server before the whole body was offered');
        const drains = owner.drains;
        const more = enc.write(body, at, Math.min(at + piece, body.length));
        at += piece;
        await new Promise((r) => setImmediate(r)); // the next read comes in a later turn of the loop
        if (more) continue;
        const deadline = Date.now() + 300;
        while (owner.drains === drains && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        if (owner.drains === drains) break;
      }
      assert.ok(ex.body.length > 0, 'output reached the client before the pause');
      const drains = owner.drains;
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(owner.drains, drains, 'no resume while the client is backed up');
      ex.full = false;
      enc.onClientWritable();
      await until(() => owner.drains === drains + 1, 'the resume');
      while (at < body.length) {
        const d = owner.drains;
        if (!enc.write(body, at, Math.min(at + piece, body.length))) await until(() => owner.drains > d, 'the next resume');
        else await new Promise((r) => setImmediate(r));
        at += piece;
      }
      enc.end();
      await until(() => owner.done, 'the end');
      assert.equal(ex.ended, true);
      const got = Buffer.concat(ex.body);
      assert.ok(decode(alg, got).equals(body), 'the client got the body byte-exact');
      assert.equal(owner.bytesOut, got.length);
      assert.ok(kept !== null && (kept as Buffer).equals(got), 'the kept variant is what the client got');
      pool.close();
    });
  }

  it('flushes each read of a flushed type, so that every event can be decoded at once', async () => {
    const pool = new CodecPool(LEVELS);
    const ex = new RecordingExchange();
    const owner: EncoderOwner = { bytesOut: 0, onEncoderDrain() {}, onEncoderDone() {}, onEncoderFailed: () => assert.fail('failed') };
    const enc = new StreamEncoder(pool, 'gzip', true);
    enc.start(ex, owner);
    const gunzip = zlib.createGunzip();
    let text = '';
    gunzip.on('data', (d: Buffer) => (text += d.toString()));
    let fed = 0;
    for (let i = 0; i < 3; i++) {
      const ev = Buffer.from(`data: event ${i}\n\n`);
      enc.write(ev, 0, ev.length);
      // what the client received so far must decode to every event sent
      await until(() => {
        for (; fed < ex.body.length; fed++) gunzip.write(ex.body[fed]);
        return text.endsWith(`data: event ${i}\n\n`);
      }, `event ${i} decoded`);
    }
    enc.destroy();
    pool.close();
  });
});
