/**
 * ClosedStreams: what fulcrum's own frame layer (conn.ts) remembers of a client's streams once
 * they are no longer open, so that a frame on a stream that is not open gets the answer RFC 9113
 * 5.1 gives it, which depends on how the stream closed:
 *
 * - Ended (both sides sent END_STREAM): DATA or HEADERS is a connection error STREAM_CLOSED (5.1
 *   "closed": an endpoint MAY treat frames other than PRIORITY as a connection error of type
 *   STREAM_CLOSED; nghttp2 does so for a stream whose remote side it has seen end).
 * - PeerReset (the client sent RST_STREAM): DATA or HEADERS is a stream error STREAM_CLOSED (RFC
 *   7540 5.1 "closed", which h2spec checks); the RST_STREAM we answer with makes it Reset, so a
 *   client that keeps sending gets one answer, not one per frame.
 * - Reset (we sent RST_STREAM: refused, malformed, a stream error, an aborted response, or the
 *   response complete before the upload): every frame is ignored, since the client may have sent
 *   it before our RST_STREAM arrived (5.1: "An endpoint MUST ignore frames that it receives on
 *   closed streams after it has sent a RST_STREAM frame").
 * WINDOW_UPDATE, RST_STREAM and PRIORITY are ignored on every closed stream (5.1: they may cross
 *   our END_STREAM or RST_STREAM; nghttp2 ignores them too).
 *
 * Memory is bounded: the last RECENT closed streams are kept in a ring. A stream that fell out
 * (RECENT other streams closed after it) is Unknown and its frames are ignored, the lenient
 * choice 5.1 allows ("MAY ... limit the period over which it ignores frames"); RECENT is twice
 * the default SETTINGS_MAX_CONCURRENT_STREAMS, more than can close while a frame is in flight.
 *
 * Stream ids a client skipped (5.1.1: opening stream N implicitly closes every idle stream below
 * it) are kept as ranges, the last MAX_GAPS of them: a HEADERS frame on one of those is not
 * trailers of a stream that existed but a new stream below the highest id, a connection error
 * PROTOCOL_ERROR (5.1.1). Clients do not skip ids in practice; older gaps are forgotten (their
 * HEADERS are then ignored as on an Unknown closed stream).
 */

export const enum Closed {
  /** not among the recently closed streams (or never opened): frames are ignored */
  Unknown = 0,
  Ended = 1,
  PeerReset = 2,
  Reset = 3,
}

/** closed streams remembered (a ring); 2 x the default SETTINGS_MAX_CONCURRENT_STREAMS */
const RECENT = 256;
/** ranges of skipped stream ids remembered */
const MAX_GAPS = 8;

export class ClosedStreams {
  /** the ring, allocated when the first stream closes (an idle connection holds none) */
  private ids: Int32Array | null = null;
  private kinds: Uint8Array | null = null;
  private next = 0;
  /** skipped ids as [from, to] pairs, inclusive, oldest first */
  private gaps: number[] | null = null;

  /**
   * note: stream `id` closed, `kind` the way. Noting the stream closed last again keeps the
   * stronger kind (conn.ts notes Reset when it sends RST_STREAM, then Ended when the stream is
   * forgotten: a reset stream stays Reset). Checks only the newest entry: one comparison per stream.
   */
  note(id: number, kind: Closed): void {
    if (this.ids === null) {
      this.ids = new Int32Array(RECENT);
      this.kinds = new Uint8Array(RECENT);
    }
    const last = (this.next + RECENT - 1) % RECENT;
    if (this.ids[last] === id) {
      if (kind > this.kinds![last]!) this.kinds![last] = kind;
      return;
    }
    this.ids[this.next] = id;
    this.kinds![this.next] = kind;
    this.next = (this.next + 1) % RECENT;
  }

  /** kind: how `id` closed, if it is among the recent ones */
  kind(id: number): Closed {
    const ids = this.ids;
    if (ids === null) return Closed.Unknown;
    for (let i = 0; i < RECENT; i++) {
      const at = (this.next + RECENT - 1 - i) % RECENT;
      if (ids[at] === id) return this.kinds![at] as Closed;
    }
    return Closed.Unknown;
  }

  /** reset: we sent RST_STREAM on a stream that had closed otherwise (a STREAM_CLOSED answer): its later frames are ignored */
  reset(id: number): void {
    const ids = this.ids;
    if (ids !== null)
      for (let i = 0; i < RECENT; i++)
        if (ids[i] === id) {
          this.kinds![i] = Closed.Reset;
          return;
        }
    this.note(id, Closed.Reset);
  }

  /** skipped: the client opened a stream above `from` - 2, leaving the ids from..to (odd, inclusive) unused */
  skipped(from: number, to: number): void {
    const g = (this.gaps ??= []);
    if (g.length === MAX_GAPS * 2) g.splice(0, 2);
    g.push(from, to);
  }

  /** neverOpened: `id` is one the client skipped (5.1.1) */
  neverOpened(id: number): boolean {
    const g = this.gaps;
    if (g === null) return false;
    for (let i = 0; i < g.length; i += 2) if (id >= g[i]! && id <= g[i + 1]!) return true;
    return false;
  }
}
