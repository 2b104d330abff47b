/**
 * HPACK (RFC 7541) for fulcrum's own HTTP/2 frame layer (conn.ts): one connection's request
 * header decoder and the response header encoder.
 *
 * Decoder (sections 4-6, Appendix A and B): the static table, the dynamic table (a ring, evicting
 * as 4.4 says), table size updates (only at the start of a block, 4.2, and never above our
 * SETTINGS_HEADER_TABLE_SIZE, 6.3), Huffman strings (5.2: a padding longer than 7 bits, padding
 * that is not the most significant bits of EOS, and EOS itself are decoding errors). Any error
 * is a COMPRESSION_ERROR for the connection (RFC 9113 4.3): decode() says so and the connection
 * closes; the table's state is then undefined and never used again. The header list size
 * (RFC 9113 6.5.2: name + value + 32 per field) is counted while decoding: past the limit the
 * block is still decoded to its end (the dynamic table must stay in step with the client's), its
 * fields are no longer handed on, and decode() says the list was too large (the stream is refused,
 * the connection lives on).
 *
 * Encoder: `:status` indexed when the static table has it, every other field a literal without
 * indexing (6.2.2) with the static table's name index where it has the name, octets as given
 * (no Huffman). The encoder never adds to the client's dynamic table, so no size update is ever
 * due (4.2) whatever SETTINGS_HEADER_TABLE_SIZE the client announces, and a response's block
 * costs no state. Started as native-bench's h2own-floor prototype.
 */

/** RFC 7541 Appendix A, index 1 first */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * The Huffman code of RFC 7541 Appendix B is canonical (codes of one length are consecutive, in
 * symbol order, shorter lengths first), so its 257 code lengths define it: one letter per symbol
 * 0..256 (EOS), 'A' = 5 bits. The codes are rebuilt from the lengths below.
 */
const LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';
const EOS = 256;
/** per code length: the first code, how many codes, where its symbols start in SORTED */
const FIRST = new Float64Array(31);
const COUNT = new Uint16Array(31);
const BASE = new Uint16Array(31);
const SORTED = new Uint16Array(257);
/** the next 8 bits → (length << 16 | symbol) for codes of at most 8 bits, else 0 */
const FAST = new Uint32Array(256);
{
  const len = (s: number) => LENGTHS.charCodeAt(s) - 60;
  const syms = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => len(a) - len(b) || a - b);
  let code = 0;
  let prev = len(syms[0]!);
  for (let i = 0; i < syms.length; i++) {
    const s = syms[i]!;
    const l = len(s);
    if (i > 0) code = (code + 1) * 2 ** (l - prev);
    prev = l;
    SORTED[i] = s;
    if (COUNT[l] === 0) {
      FIRST[l] = code;
      BASE[l] = i;
    }
    COUNT[l]!++;
    if (l <= 8) for (let x = 0; x < 1 << (8 - l); x++) FAST[(code << (8 - l)) | x] = (l << 16) | s;
  }
}

/** RFC 7541 4.1: an entry's size is its name and value octets plus 32 */
const entrySize = (name: string, value: string) => name.length + value.length + 32;

/** Receives the fields of a header block in order. */
export interface FieldSink {
  field(name: string, value: string): void;
}

/** What decode() found: the block was fine, its list was over the size limit, or it was undecodable. */
export const enum Decoded {
  Ok = 0,
  /** decoded to its end, but the list exceeded maxListBytes: the fields after the limit were not handed on */
  TooLarge = 1,
  /** a decoding error: COMPRESSION_ERROR for the connection */
  Error = 2,
}

/** HpackDecoder is the decoding context of one connection (RFC 7541 2.2: one per direction). */
export class HpackDecoder {
  /** our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for */
  private readonly limit: number;
  private maxSize: number;
  private size = 0;
  /** the dynamic table as a ring: `count` entries, the newest (dynamic index 1) at `head` */
  private readonly names: string[];
  private readonly values: string[];
  private head = 0;
  private count = 0;
  /** the read position while decoding, so integers and strings need no result object */
  private pos = 0;
  private scratch = Buffer.allocUnsafe(256);

  /** limit: our SETTINGS_HEADER_TABLE_SIZE (4096, RFC 9113's default); maxListBytes: SETTINGS_MAX_HEADER_LIST_SIZE */
  constructor(
    limit: number,
    private readonly maxListBytes: number,
  ) {
    this.limit = limit;
    this.maxSize = limit;
    // no entry is smaller than 32 octets: the ring never holds more than limit / 32
    const cap = Math.floor(limit / 32) + 1;
    this.names = new Array<string>(cap).fill('');
    this.values = new Array<string>(cap).fill('');
  }

  /** the dynamic table's size in octets (4.1), for tests */
  get tableSize(): number {
    return this.size;
  }

  /** entry returns dynamic table entry i (1 = newest), for tests; undefined past the end */
  entry(i: number): [string, string] | undefined {
    if (i < 1 || i > this.count) return undefined;
    const k = (this.head - (i - 1) + this.names.length) % this.names.length;
    return [this.names[k]!, this.values[k]!];
  }

  /** decode hands the fields of the block buf[start, end) to sink (see Decoded). */
  decode(buf: Buffer, start: number, end: number, sink: FieldSink): Decoded {
    this.pos = start;
    let first = true;
    let listBytes = 0;
    const max = this.maxListBytes;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      let name: string | null;
      let value: string | null;
      if (b & 0x80) {
        // 6.1 indexed field
        const i = this.int(buf, end, 7);
        if (i <= 0) return Decoded.Error; // index 0 is an error (6.1)
        if (i <= 61) {
          const e = STATIC[i - 1]!;
          name = e[0];
          value = e[1];
        } else {
          const k = this.slot(i - 61);
          if (k < 0) return Decoded.Error;
          name = this.names[k]!;
          value = this.values[k]!;
        }
      } else if ((b & 0xe0) === 0x20) {
        // 6.3 dynamic table size update: only at the start of a block (4.2), at most our setting
        if (!first) return Decoded.Error;
        const n = this.int(buf, end, 5);
        if (n < 0 || n > this.limit) return Decoded.Error;
        this.maxSize = n;
        this.evict(0);
        continue; // more updates may follow; still "at the start"
      } else {
        // 6.2.1 with incremental indexing (01), 6.2.2 without (0000), 6.2.3 never indexed (0001)
        const indexing = (b & 0x40) !== 0;
        const i = this.int(buf, end, indexing ? 6 : 4);
        if (i < 0) return Decoded.Error;
        if (i === 0) name = this.str(buf, end);
        else if (i <= 61) name = STATIC[i - 1]![0];
        else {
          const k = this.slot(i - 61);
          name = k < 0 ? null : this.names[k]!;
        }
        if (name === null) return Decoded.Error;
        value = this.str(buf, end);
        if (value === null) return Decoded.Error;
        if (indexing) this.add(name, value);
      }
      first = false;
      if (listBytes <= max) {
        listBytes += entrySize(name, value);
        if (listBytes <= max) sink.field(name, value);
      }
    }
    return listBytes > max ? Decoded.TooLarge : Decoded.Ok;
  }

  /** slot returns the ring index of dynamic index d (1 = newest), or -1 past the table's end (an error, 2.3.3) */
  private slot(d: number): number {
    if (d > this.count) return -1;
    const cap = this.names.length;
    return (this.head - (d - 1) + cap) % cap;
  }

  /** add inserts a field as dynamic index 1, evicting the oldest as 4.4 says (an entry larger than the table empties it) */
  private add(name: string, value: string): void {
    const n = entrySize(name, value);
    this.evict(n);
    if (n > this.maxSize) return;
    const cap = this.names.length;
    this.head = (this.head + 1) % cap;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += n;
  }

  /** evict drops the oldest entries until `room` more octets fit */
  private evict(room: number): void {
    const cap = this.names.length;
    while (this.size + room > this.maxSize && this.count > 0) {
      const k = (this.head - (this.count - 1) + cap) % cap;
      this.size -= entrySize(this.names[k]!, this.values[k]!);
      this.names[k] = '';
      this.values[k] = '';
      this.count--;
    }
  }

  /** int reads an integer with an N-bit prefix (5.1) at pos; -1 when truncated or over 2^28 (no header block needs more) */
  private int(buf: Buffer, end: number, prefix: number): number {
    const max = (1 << prefix) - 1;
    let v = buf[this.pos++]! & max;
    if (v < max) return v;
    for (let m = 0; m <= 21; m += 7) {
      if (this.pos >= end) return -1;
      const b = buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** m;
      if ((b & 0x80) === 0) return v;
    }
    return -1;
  }

  /** str reads a string literal (5.2) at pos, Huffman-coded or not; null when malformed */
  private str(buf: Buffer, end: number): string | null {
    if (this.pos >= end) return null;
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const n = this.int(buf, end, 7);
    if (n < 0 || this.pos + n > end) return null;
    const s = this.pos;
    this.pos += n;
    return huffman ? this.huffman(buf, s, s + n) : buf.toString('latin1', s, s + n);
  }

  /** huffman decodes buf[start, end) (Appendix B); null on a bad code, EOS, or padding that is not 1s or longer than 7 bits */
  private huffman(buf: Buffer, start: number, end: number): string | null {
    // at most 8 symbols per 5 bits (the shortest code)
    const most = Math.ceil(((end - start) * 8) / 5);
    if (this.scratch.length < most) this.scratch = Buffer.allocUnsafe(most);
    const out = this.scratch;
    let o = 0;
    const bits = (end - start) * 8;
    let p = 0;
    while (p < bits) {
      const i = start + (p >> 3);
      const sh = p & 7;
      // the next 8 bits, with 1s past the end (the padding is 1s: an all-1s tail never matches a short code)
      const next8 = ((((buf[i]! << 8) | (i + 1 < end ? buf[i + 1]! : 0xff)) << sh) >> 8) & 0xff;
      const left = bits - p;
      if (left < 8 && next8 >> (8 - left) === (1 << left) - 1) break; // padding: a prefix of EOS
      const f = FAST[next8]!;
      if (f !== 0) {
        const l = f >>> 16;
        if (l > left) return null;
        out[o++] = f & 0xffff;
        p += l;
        continue;
      }
      // a longer code: canonical decoding bit by bit
      let code = 0;
      let sym = -1;
      for (let l = 1; l <= 30; l++) {
        if (p >= bits) return null; // ran out inside a code: padding of 8 bits or more, or a cut code
        code = code * 2 + ((buf[start + (p >> 3)]! >> (7 - (p & 7))) & 1);
        p++;
        const d = code - FIRST[l]!;
        if (COUNT[l]! > 0 && d >= 0 && d < COUNT[l]!) {
          sym = SORTED[BASE[l]! + d]!;
          break;
        }
      }
      if (sym < 0 || sym === EOS) return null;
      out[o++] = sym;
    }
    return out.toString('latin1', 0, o);
  }
}

// ---- the encoder ----------------------------------------------------------------------------

/** the static indices of `:status` values (Appendix A) */
const STATUS_INDEX: Record<number, number> = { 200: 8, 204: 9, 206: 10, 304: 11, 400: 12, 404: 13, 500: 14 };
/** a name's first index in the static table */
const NAME_INDEX = new Map<string, number>();
for (let i = STATIC.length - 1; i >= 0; i--) NAME_INDEX.set(STATIC[i]![0], i + 1);

/** the most octets encodeField writes for a name and value of these lengths */
export const fieldBytesMax = (nameLength: number, valueLength: number): number => nameLength + valueLength + 12;

/** writeInt writes an integer with an N-bit prefix (5.1) whose first octet carries `first`; returns the end */
function writeInt(buf: Buffer, at: number, first: number, prefix: number, v: number): number {
  const max = (1 << prefix) - 1;
  if (v < max) {
    buf[at++] = first | v;
    return at;
  }
  buf[at++] = first | max;
  v -= max;
  while (v >= 128) {
    buf[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

/** encodeStatus writes `:status` at `at` (indexed, or a literal without indexing of name 8); returns the end (at most 5 octets) */
export function encodeStatus(buf: Buffer, at: number, status: number): number {
  const idx = STATUS_INDEX[status];
  if (idx !== undefined) {
    buf[at++] = 0x80 | idx;
    return at;
  }
  buf[at++] = 0x08; // literal without indexing, name :status (index 8 < 15 fits the 4-bit prefix)
  buf[at++] = 3;
  return at + buf.write(String(status), at, 3, 'latin1');
}

/**
 * encodeField writes one field as a literal without indexing (6.2.2): the static name index when
 * the table has the name, else the name as a literal; the value's octets as given. `name` must be
 * lowercase (RFC 9113 8.2.1). buf must have fieldBytesMax() octets free at `at`; returns the end.
 */
export function encodeField(buf: Buffer, at: number, name: string, value: string | Buffer): number {
  const idx = NAME_INDEX.get(name);
  if (idx !== undefined) at = writeInt(buf, at, 0, 4, idx);
  else {
    buf[at++] = 0;
    at = writeInt(buf, at, 0, 7, name.length);
    at += buf.write(name, at, 'latin1');
  }
  if (typeof value === 'string') {
    at = writeInt(buf, at, 0, 7, value.length);
    return at + buf.write(value, at, 'latin1');
  }
  at = writeInt(buf, at, 0, 7, value.length);
  return at + value.copy(buf, at);
}
