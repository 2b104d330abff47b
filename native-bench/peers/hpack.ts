/**
 * HPACK (RFC 7541) for native-bench's `h2own-floor` peer: a header block decoder (static table,
 * dynamic table with size updates, Huffman strings, RFC 7541 sections 4, 5, 6 and Appendix A/B) and
 * the least encoder a response needs (`:status` and `content-length`, literals without indexing and
 * without Huffman, so the peer's dynamic table stays empty and no table size update is ever due).
 * A measurement prototype, not fulcrum's HTTP/2: it decodes correctly what h2load, curl and
 * node:http2 send, and refuses what it cannot decode (the caller answers COMPRESSION_ERROR).
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

/** HpackDecoder is the decoding context of one connection (RFC 7541 2.2: one per direction). */
export class HpackDecoder {
  /** our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for */
  private readonly limit: number;
  private maxSize: number;
  private size = 0;
  /** the dynamic table, oldest first: dynamic index 1 is the last element */
  private readonly names: string[] = [];
  private readonly values: string[] = [];
  /** the read position while decoding, so integers and strings need no result object */
  private pos = 0;
  private scratch = Buffer.allocUnsafe(256);

  constructor(limit = 4096) {
    this.limit = limit;
    this.maxSize = limit;
  }

  /** decode hands every field of the block buf[start, end) to sink; false on a decoding error (COMPRESSION_ERROR). */
  decode(buf: Buffer, start: number, end: number, sink: FieldSink): boolean {
    this.pos = start;
    let first = true;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      if (b & 0x80) {
        // 6.1 indexed field
        const i = this.int(buf, end, 7);
        if (i <= 0) return false;
        if (i <= 61) {
          const e = STATIC[i - 1]!;
          sink.field(e[0], e[1]);
        } else {
          const k = this.names.length - (i - 61);
          if (k < 0) return false;
          sink.field(this.names[k]!, this.values[k]!);
        }
      } else if ((b & 0xe0) === 0x20) {
        // 6.3 dynamic table size update: only at the start of a block (4.2), at most our setting
        if (!first) return false;
        const n = this.int(buf, end, 5);
        if (n < 0 || n > this.limit) return false;
        this.maxSize = n;
        this.evict(0);
        continue; // more updates may follow; still "at the start"
      } else {
        // 6.2.1 with incremental indexing (01), 6.2.2 without (0000), 6.2.3 never indexed (0001)
        const indexing = (b & 0x40) !== 0;
        const i = this.int(buf, end, indexing ? 6 : 4);
        if (i < 0) return false;
        let name: string | null;
        if (i === 0) name = this.str(buf, end);
        else if (i <= 61) name = STATIC[i - 1]![0];
        else {
          const k = this.names.length - (i - 61);
          name = k < 0 ? null : this.names[k]!;
        }
        if (name === null) return false;
        const value = this.str(buf, end);
        if (value === null) return false;
        sink.field(name, value);
        if (indexing) this.add(name, value);
      }
      first = false;
    }
    return true;
  }

  /** add inserts a field as dynamic index 1, evicting the oldest as 4.4 says (an entry larger than the table empties it) */
  private add(name: string, value: string): void {
    const n = entrySize(name, value);
    this.evict(n);
    if (n > this.maxSize) return;
    this.names.push(name);
    this.values.push(value);
    this.size += n;
  }

  /** evict drops the oldest entries until `room` more octets fit */
  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.names.length > 0) {
      this.size -= entrySize(this.names.shift()!, this.values.shift()!);
    }
  }

  /** int reads an integer with an N-bit prefix (5.1) at pos; -1 when truncated or too large */
  private int(buf: Buffer, end: number, prefix: number): number {
    const max = (1 << prefix) - 1;
    let v = buf[this.pos++]! & max;
    if (v < max) return v;
    for (let m = 0; m <= 28; m += 7) {
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
    // at most 8 symbols per 5 bits
    if (this.scratch.length < ((end - start) * 8) / 5 + 1) this.scratch = Buffer.allocUnsafe((end - start) * 2);
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
        if (p >= bits) return null;
        code = code * 2 + ((buf[start + (p >> 3)]! >> (7 - (p & 7))) & 1);
        p++;
        if (COUNT[l]! > 0 && code - FIRST[l]! < COUNT[l]!) {
          sym = SORTED[BASE[l]! + code - FIRST[l]!]!;
          break;
        }
      }
      if (sym < 0 || sym === EOS) return null;
      out[o++] = sym;
    }
    return out.toString('latin1', 0, o);
  }
}

/** the static indices of `:status` values (Appendix A) */
const STATUS_INDEX: Record<number, number> = { 200: 8, 204: 9, 206: 10, 304: 11, 400: 12, 404: 13, 500: 14 };

/**
 * writeResponseHead writes the header block of a response into buf at `at` and returns the end:
 * `:status` indexed when the static table has it, else a literal without indexing of name 8; then
 * `content-length` (static name 28) as a literal without indexing (6.2.2), when length >= 0. At most
 * 2 + 4 + 2 + 16 octets.
 */
export function writeResponseHead(buf: Buffer, at: number, status: number, length: number): number {
  const idx = STATUS_INDEX[status];
  if (idx !== undefined) buf[at++] = 0x80 | idx;
  else {
    buf[at++] = 0x08; // literal without indexing, name :status (index 8 < 15 fits the 4-bit prefix)
    buf[at++] = 3;
    at += buf.write(String(status), at, 'latin1');
  }
  if (length >= 0) {
    buf[at++] = 0x0f; // name index 28 = 15 + 13
    buf[at++] = 13;
    const s = String(length);
    buf[at++] = s.length;
    at += buf.write(s, at, 'latin1');
  }
  return at;
}
