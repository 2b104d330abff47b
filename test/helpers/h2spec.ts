/**
 * SpecConn: an h2spec-style HTTP/2 client (github.com/summerwind/h2spec, spec/connection.go and
 * spec/verifier.go re-done over RawH2) for test/h2-conformance.test.ts. It opens a connection with
 * h2spec's handshake (preface, SETTINGS INITIAL_WINDOW_SIZE 65535, ACK of the server's SETTINGS,
 * wait for the ACK of ours), writes frames as h2spec's cases do, and verifies what comes back
 * the way h2spec's verifiers do, with one difference that makes the suite stricter: in `strict`
 * mode (fulcrum's own frame layer) a connection error must be a GOAWAY with the expected code
 * before the close (h2spec also passes a bare close, or a GOAWAY with another code followed by
 * a close), and a stream error answered with RST_STREAM must leave the connection serving (a
 * well-formed request on a new stream still gets its response).
 *
 * Every wait is bounded (WAIT_MS: 5 s, over h2spec's own 2 s for a loaded CI machine; a case that
 * passes returns as soon as what it waits for arrives); none sleeps.
 */
import assert from 'node:assert/strict';
import { END_HEADERS, END_STREAM, Frame, frame, hpack, PREFACE, RawH2, type RawFrame } from './h2.js';
import { DATA, PADDED, PRIORITY, PRIORITY_FLAG, PUSH_PROMISE, setting, u32, WINDOW_UPDATE } from './h2-raw.js';

export const WAIT_MS = 5000;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;

export type Fields = [string, string][];

/** what a case runs against: the listener's port, and whether the implementation is held to the strict checks */
export interface Ctx {
  port: number;
  strict: boolean;
}

/** one h2spec case: `suite/section/n` as h2spec numbers it, its description, whether only `h2spec --strict` runs it */
export interface SpecCase {
  section: string;
  desc: string;
  strict?: boolean;
  run: (x: Ctx) => Promise<void>;
}

/** conn: a case that runs on one handshaken connection (closed after it) */
export const conn =
  (fn: (c: SpecConn) => Promise<void>) =>
  async (x: Ctx): Promise<void> => {
    const c = await SpecConn.open(x.port, x.strict);
    try {
      await fn(c);
    } finally {
      c.destroy();
    }
  };

/** group numbers a section's cases 1..n as h2spec does */
export function group(section: string, cases: Omit<SpecCase, 'section'>[]): SpecCase[] {
  return cases.map((c) => ({ ...c, section }));
}

export interface HeadersOptions {
  end?: boolean;
  endHeaders?: boolean;
  /** the PRIORITY flag's fields (6.2): dependency, weight (0-255), exclusive */
  priority?: { dep: number; weight: number; exclusive?: boolean };
  /** PADDED with this many octets of padding */
  pad?: number;
}

export class SpecConn {
  /** frames before this index were consumed by earlier waits (h2spec reads events in order) */
  private cursor = 0;
  /** strict stream errors answered by RST_STREAM are followed by a request that must be served (off where every stream is held) */
  followUp = true;

  private constructor(
    readonly raw: RawH2,
    readonly port: number,
    readonly strict: boolean,
  ) {}

  /** open connects with h2spec's handshake; resolves once both SETTINGS are acknowledged */
  static async open(port: number, strict: boolean): Promise<SpecConn> {
    const raw = await RawH2.open(port, false, false);
    raw.socket.setNoDelay(true); // h2spec's frames go out one write each: no Nagle delay between them
    raw.send(Buffer.concat([PREFACE, frame(Frame.Settings, 0, 0, setting(SETTINGS_INITIAL_WINDOW_SIZE, 65535))]));
    const c = new SpecConn(raw, port, strict);
    await raw.until(() => raw.frames.some((f) => f.type === Frame.Settings && f.flags === 0), WAIT_MS, "the server's SETTINGS");
    raw.send(frame(Frame.Settings, 1, 0));
    await raw.until(() => raw.frames.some((f) => f.type === Frame.Settings && f.flags === 1), WAIT_MS, 'the SETTINGS ACK');
    c.cursor = raw.frames.length;
    return c;
  }

  /** the server's SETTINGS values */
  get settings(): Map<number, number> {
    const s = new Map<number, number>();
    const f = this.raw.frames.find((x) => x.type === Frame.Settings && x.flags === 0)!;
    for (let p = 0; p + 6 <= f.payload.length; p += 6) s.set(f.payload.readUInt16BE(p), f.payload.readUInt32BE(p + 2));
    return s;
  }

  /** CommonHeaders (spec/util.go): :method, :scheme, :path, :authority */
  common(method = 'GET'): Fields {
    return [
      [':method', method],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', `127.0.0.1:${this.port}`],
    ];
  }

  /** DummyHeaders: n fields x-dummy<i> of 4000 octets (h2spec's default MaxHeaderLen) */
  dummy(n: number): Fields {
    return Array.from({ length: n }, (_, i): [string, string] => [`x-dummy${i}`, 'x'.repeat(4000)]);
  }

  encode(fields: Fields): Buffer {
    return hpack(fields);
  }

  // ---- frames out ---------------------------------------------------------------------------

  send(b: Buffer): void {
    this.raw.send(b);
  }

  headers(id: number, block: Fields | Buffer, o: HeadersOptions = {}): void {
    let payload = Array.isArray(block) ? hpack(block) : block;
    let flags = (o.end ? END_STREAM : 0) | (o.endHeaders === false ? 0 : END_HEADERS);
    if (o.priority) {
      flags |= PRIORITY_FLAG;
      const p = o.priority;
      payload = Buffer.concat([u32((p.exclusive ? 0x80000000 : 0) | p.dep), Buffer.from([p.weight]), payload]);
    }
    if (o.pad !== undefined) {
      flags |= PADDED;
      payload = Buffer.concat([Buffer.from([o.pad]), payload, Buffer.alloc(o.pad)]);
    }
    this.send(frame(Frame.Headers, flags, id, payload));
  }

  continuation(id: number, endHeaders: boolean, block: Fields | Buffer): void {
    this.send(frame(Frame.Continuation, endHeaders ? END_HEADERS : 0, id, Array.isArray(block) ? hpack(block) : block));
  }

  data(id: number, end: boolean, payload: Buffer | string): void {
    this.send(frame(DATA, end ? END_STREAM : 0, id, Buffer.from(payload)));
  }

  dataPadded(id: number, end: boolean, payload: string, padding: string): void {
    const pad = Buffer.from(padding);
    this.send(frame(DATA, (end ? END_STREAM : 0) | PADDED, id, Buffer.concat([Buffer.from([pad.length]), Buffer.from(payload), pad])));
  }

  priority(id: number, dep: number, weight: number, exclusive = false): void {
    this.send(frame(PRIORITY, 0, id, Buffer.concat([u32((exclusive ? 0x80000000 : 0) | dep), Buffer.from([weight])])));
  }

  rst(id: number, code: number): void {
    this.send(frame(Frame.RstStream, 0, id, u32(code)));
  }

  settingsFrame(...pairs: [number, number][]): void {
    this.send(frame(Frame.Settings, 0, 0, Buffer.concat(pairs.map(([k, v]) => setting(k, v)))));
  }

  ping(ack: boolean, data: Buffer | string = Buffer.alloc(8)): void {
    const d = Buffer.alloc(8);
    Buffer.from(data).copy(d);
    this.send(frame(Frame.Ping, ack ? 1 : 0, 0, d));
  }

  goaway(last: number, code: number, debug = ''): void {
    this.send(frame(Frame.Goaway, 0, 0, Buffer.concat([u32(last), u32(code), Buffer.from(debug)])));
  }

  windowUpdate(id: number, inc: number): void {
    this.send(frame(WINDOW_UPDATE, 0, id, u32(inc)));
  }

  pushPromise(id: number, promised: number, block: Fields): void {
    this.send(frame(PUSH_PROMISE, END_HEADERS, id, Buffer.concat([u32(promised), hpack(block)])));
  }

  // ---- verifiers (spec/verifier.go) -----------------------------------------------------------

  /** next waits for the first frame after the cursor that `match` accepts (or the close, or WAIT_MS) and consumes up to it */
  private async next(match: (f: RawFrame) => boolean, what: string): Promise<RawFrame | null> {
    const find = () => {
      for (let i = this.cursor; i < this.raw.frames.length; i++) if (match(this.raw.frames[i]!)) return i;
      return -1;
    };
    await this.raw.until(() => find() >= 0 || this.raw.closed, WAIT_MS, what).catch(() => {});
    const i = find();
    if (i < 0) {
      this.cursor = this.raw.frames.length;
      return null;
    }
    this.cursor = i + 1;
    return this.raw.frames[i]!;
  }

  private seen(): string {
    return this.raw.frames
      .slice(this.cursor > 3 ? this.cursor - 3 : 0)
      .map(
        (f) =>
          `${f.type}/${f.stream}${f.type === Frame.Goaway ? `(${f.payload.readUInt32BE(4)})` : f.type === Frame.RstStream ? `(${f.payload.readUInt32BE(0)})` : ''}`,
      )
      .join(' ');
  }

  /** VerifyConnectionError: GOAWAY with one of `codes` (strict: required) and the connection closed */
  async connectionError(...codes: number[]): Promise<void> {
    const g = await this.next((f) => f.type === Frame.Goaway, 'GOAWAY');
    if (g === null && !this.strict && this.raw.closed) return; // h2spec: "Connection closed" passes
    assert.ok(g, `expected GOAWAY ${codes.join('|')}; closed: ${this.raw.closed}; seen: ${this.seen()}`);
    assert.ok(codes.includes(g.payload.readUInt32BE(4)), `GOAWAY code ${g.payload.readUInt32BE(4)}, expected ${codes.join('|')}`);
    // h2spec stops at the GOAWAY; RFC 9113 5.4.1 also has the connection closed after it (strict)
    if (this.strict) await this.raw.until(() => this.raw.closed, WAIT_MS, 'the close after GOAWAY');
  }

  /**
   * VerifyStreamError: RST_STREAM with one of `codes` (then, strict, a new request on the same
   * connection is answered) or a connection error with one of them.
   */
  async streamError(...codes: number[]): Promise<void> {
    const f = await this.next(
      (x) => x.type === Frame.Goaway || (x.type === Frame.RstStream && codes.includes(x.payload.readUInt32BE(0))),
      'RST_STREAM or GOAWAY',
    );
    if (f === null && !this.strict && this.raw.closed) return;
    assert.ok(f, `expected RST_STREAM or GOAWAY ${codes.join('|')}; closed: ${this.raw.closed}; seen: ${this.seen()}`);
    if (f.type === Frame.Goaway) {
      assert.ok(codes.includes(f.payload.readUInt32BE(4)), `GOAWAY code ${f.payload.readUInt32BE(4)}, expected ${codes.join('|')}`);
      if (this.strict) await this.raw.until(() => this.raw.closed, WAIT_MS, 'the close after GOAWAY');
      return;
    }
    if (this.strict && this.followUp) await this.stillServes();
  }

  /** stillServes: a well-formed GET on a new stream gets its response (the stream error left the connection up) */
  async stillServes(): Promise<void> {
    let id = 1;
    for (const f of this.raw.frames) if (f.stream >= id) id = f.stream + 2;
    id |= 1;
    const before = this.cursor;
    this.headers(id, this.common(), { end: true });
    const h = await this.next((f) => f.type === Frame.Headers && f.stream === id, `the response on stream ${id}`);
    this.cursor = before;
    assert.ok(h, `no response on stream ${id} after the stream error; seen: ${this.seen()}`);
  }

  /** VerifyStreamClose: a DATA or HEADERS frame with END_STREAM */
  async streamClose(): Promise<void> {
    const f = await this.next((x) => (x.type === DATA || x.type === Frame.Headers) && (x.flags & END_STREAM) !== 0, 'END_STREAM');
    assert.ok(f, `expected a stream to end; seen: ${this.seen()}`);
  }

  /** VerifyConnectionClose */
  async closed(): Promise<void> {
    await this.raw.until(() => this.raw.closed, WAIT_MS, 'the connection closed');
  }

  /** VerifyHeadersFrame / WaitEventByType(HEADERS) on `id` */
  async headersFrame(id: number): Promise<void> {
    const f = await this.next((x) => x.type === Frame.Headers && x.stream === id, `HEADERS on stream ${id}`);
    assert.ok(f, `expected HEADERS on stream ${id}; closed: ${this.raw.closed}; seen: ${this.seen()}`);
  }

  /** VerifyEventType(PING): any PING frame; VerifyPingFrameWithAck: the ACK carrying `data` */
  async pingFrame(data?: Buffer | string): Promise<RawFrame> {
    const want = data === undefined ? null : Buffer.concat([Buffer.from(data), Buffer.alloc(8)]).subarray(0, 8);
    const f = await this.next((x) => x.type === Frame.Ping && (want === null || (x.flags === 1 && x.payload.equals(want))), 'PING');
    assert.ok(f, `expected a PING${want ? ' ACK' : ''}; closed: ${this.raw.closed}; seen: ${this.seen()}`);
    return f;
  }

  /** VerifyEventType(SETTINGS) after sending one: its ACK */
  async settingsAck(): Promise<void> {
    const f = await this.next((x) => x.type === Frame.Settings, 'SETTINGS');
    assert.ok(f && f.flags === 1, `expected a SETTINGS ACK; seen: ${this.seen()}`);
  }

  /** WaitEventByType(DATA): the next DATA frame (on `id` with `length` octets, when given) */
  async dataFrame(id?: number, length?: number): Promise<void> {
    const f = await this.next((x) => x.type === DATA, 'DATA');
    assert.ok(f, `expected DATA; seen: ${this.seen()}`);
    if (id !== undefined) assert.equal(f.stream, id);
    if (length !== undefined) assert.equal(f.payload.length, length);
  }

  /** VerifyPingFrameOrConnectionClose: the PING ACK, or the connection closed */
  async pingOrClose(): Promise<void> {
    const f = await this.next((x) => x.type === Frame.Ping && x.flags === 1, 'PING ACK');
    assert.ok(f !== null || this.raw.closed, `expected a PING ACK or the close; seen: ${this.seen()}`);
  }

  /** WaitEventByType(GOAWAY / RST_STREAM) with a code */
  async goawayFrame(code: number): Promise<void> {
    const f = await this.next((x) => x.type === Frame.Goaway, 'GOAWAY');
    assert.ok(f, `expected GOAWAY; seen: ${this.seen()}`);
    assert.equal(f.payload.readUInt32BE(4), code);
  }

  async rstFrame(id: number, code: number): Promise<void> {
    const f = await this.next((x) => x.type === Frame.RstStream, 'RST_STREAM');
    assert.ok(f, `expected RST_STREAM; seen: ${this.seen()}`);
    assert.equal(f.stream, id);
    assert.equal(f.payload.readUInt32BE(0), code);
    if (this.strict) await this.stillServes();
  }

  destroy(): void {
    this.raw.destroy();
  }
}
