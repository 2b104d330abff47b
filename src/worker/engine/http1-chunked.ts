/**
 * ChunkFraming reads the framing bytes of a chunked request body (RFC 9112 7.1) for the request
 * parser: each chunk-size line (hex digits, then extensions read by their grammar and dropped,
 * then CRLF) and the CRLF that must follow each chunk's data; the parser delivers the data itself.
 * Strict as llhttp without its lenient flags: no whitespace after the size unless an extension
 * follows, no bare LF, exactly CRLF after the data (a chunk longer than its size is an error).
 */
import * as G from './http1-syntax.js';

/** what a byte completed */
export const enum ChunkEvent {
  More,
  /** a size line ended: `size` bytes of data follow */
  Data,
  /** the last-chunk line ("0") ended: trailer fields follow */
  Last,
  /** the framing is invalid (or the body too large): `status` and `reason` say why */
  Error,
}

const enum St {
  Size,
  Ext,
  SizeLf,
  DataCr,
  DataLf,
}

const CR = 13;
const LF = 10;
const MAX_CHUNK_LINE = 4096;

export class ChunkFraming {
  /** the size of the chunk whose line just ended */
  size = 0;
  status = 400;
  reason = '';
  private st = St.Size;
  private lineBytes = 0;
  private sawDigit = false;
  private ext = G.Ext.AfterSize;

  /** begin starts a body: a size line comes first. */
  begin(): void {
    this.st = St.Size;
    this.size = 0;
    this.lineBytes = 0;
    this.sawDigit = false;
  }

  /** afterData: a chunk's data was delivered; its CRLF comes next. */
  afterData(): void {
    this.st = St.DataCr;
  }

  /** byte reads one framing byte; `room` is how many more body bytes the limit allows. */
  byte(c: number, room: number): ChunkEvent {
    switch (this.st) {
      case St.Size: {
        if (++this.lineBytes > MAX_CHUNK_LINE) return this.fail(400, 'chunk line too long');
        const h = G.hexVal(c);
        if (h >= 0) {
          // size <= room <= 2^53 before this digit: an imprecise product is still too large
          this.size = this.size * 16 + h;
          if (this.size > room) return this.fail(413, 'request body too large');
          this.sawDigit = true;
          return ChunkEvent.More;
        }
        if (!this.sawDigit) return this.fail(400, 'invalid chunk size');
        this.st = St.Ext;
        this.ext = G.Ext.AfterSize;
        return this.extByte(c);
      }
      case St.Ext:
        if (++this.lineBytes > MAX_CHUNK_LINE) return this.fail(400, 'chunk extension too long');
        return this.extByte(c);
      case St.SizeLf:
        if (c !== LF) return this.fail(400, 'invalid chunk line end');
        this.lineBytes = 0;
        this.sawDigit = false;
        return this.size === 0 ? ChunkEvent.Last : ChunkEvent.Data;
      case St.DataCr:
        if (c !== CR) return this.fail(400, 'chunk data longer than its size');
        this.st = St.DataLf;
        return ChunkEvent.More;
      case St.DataLf:
        if (c !== LF) return this.fail(400, 'chunk data longer than its size');
        this.st = St.Size;
        this.size = 0;
        return ChunkEvent.More;
    }
  }

  private extByte(c: number): ChunkEvent {
    const next = G.extStep(this.ext, c);
    if (next === G.EXT_BAD) return this.fail(400, 'invalid chunk extension');
    if (next === G.EXT_END) this.st = St.SizeLf;
    else this.ext = next;
    return ChunkEvent.More;
  }

  private fail(status: number, reason: string): ChunkEvent {
    this.status = status;
    this.reason = reason;
    return ChunkEvent.Error;
  }
}
