/**
 * AccessLog writes one line per request (logging.access: "stdout", "off" or a file path;
 * logging.format: "json" or "combined"), off the request path: a request appends its line to a
 * string (V8 ropes make that cheap) and a timer flushes the batch with one asynchronous write.
 * Never a synchronous write per request. Files are opened for append and reopened on SIGUSR1
 * (the primary forwards the signal to its workers), so logrotate's `postrotate kill -USR1` works
 * as it does for nginx. Every worker appends to the same file (O_APPEND); lines stay whole.
 *
 * Every answer has its line: proxied requests when they are over (observe.ts observeFinish), and
 * the answers fulcrum makes itself at the edge (403, 404, 414, 429, 400: observeEdge) and those
 * its HTTP/1.1 engine makes to requests it cannot parse (observeEngineAnswer), each with the
 * failure kind of src/errors.ts as its `reason`. A JSON line holds the fields
 * logging.accessFields names, in that order: each field's key string and id are chosen once per
 * config, so a line is a few string concatenations (no object, no JSON.stringify of the line), and
 * only values a client wrote (method, path, Host, User-Agent, Referer) or a route name are
 * checked for characters JSON must escape.
 */
import fs from 'node:fs';
// a type only: the schema module (and TypeBox, ~7 MiB of a worker's heap) stays out of the workers
import type { AccessLogField } from '../../config/schema.js';
import type { ErrorKind } from '../../errors.js';
import { log } from '../../log.js';
import { requestId } from './request-id.js';

/** Observed is what the access log reads of a request that is over (a ProxyRequest, or an edge answer). */
export interface Observed {
  readonly seq: number;
  readonly startedAt: number;
  /** status sent to the client (0: none, e.g. the client left first) */
  readonly status: number;
  /** when the upstream response head arrived (0: never) */
  readonly headAt: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** method, target and protocol are "" for a request whose request line could not be read (an engine answer) */
  readonly method: string;
  readonly target: string;
  /** "HTTP/1.0", "HTTP/1.1" (ClientExchange.httpVersion) */
  readonly protocol: string;
  readonly clientIp: string;
  /** request fields, read only when the log writes them (AccessLog.wantsHost ...); "" when absent */
  readonly host: string;
  readonly referer: string;
  readonly userAgent: string;
  /** the failure kind when fulcrum answered (or cut) the request itself; null when the server's response went through */
  readonly reason: ErrorKind | null;
  /** the route that matched (null: none matched, or the request was refused before routing) */
  readonly route: { readonly name: string } | null;
  readonly upstream: { readonly name: string } | null;
  readonly server: { readonly id: string } | null;
}

/** flush after this many characters are pending, or after FLUSH_MS */
const FLUSH_CHARS = 64 * 1024;
const FLUSH_MS = 50;
/** past this many pending characters (the destination is not keeping up) lines are dropped and counted */
const MAX_PENDING_CHARS = 16 * 1024 * 1024;

export interface AccessLogConfig {
  access: string;
  format: 'json' | 'combined';
  /** the JSON fields, in order (default: all) */
  accessFields?: readonly AccessLogField[];
}

/**
 * openAccessLog returns the access log for logging.access/format/accessFields: `prev` (the
 * running generation's) when it is the same, else a new one (a file is opened for append; the
 * caller closes the one it replaces once the new generation runs). null when logging.access is "off".
 */
export function openAccessLog(cfg: AccessLogConfig, prev: AccessLog | null): AccessLog | null {
  const combined = cfg.format === 'combined';
  if (cfg.access === 'off') return null;
  const fields = cfg.accessFields ?? ALL_FIELDS;
  if (prev !== null && prev.target === cfg.access && prev.combined === combined && prev.fields.join() === fields.join()) return prev;
  return new AccessLog(cfg.access, combined, fields);
}

let hooked = false;
/** hookAccessLogSignals reopens the file on SIGUSR1 and writes what is pending when the worker exits. */
export function hookAccessLogSignals(current: () => AccessLog | null | undefined): void {
  if (hooked) return;
  hooked = true;
  process.on('SIGUSR1', () => current()?.reopen());
  process.on('exit', () => current()?.flushSync());
}

// time strings are cached per millisecond (json) and per second (combined)
let isoMs = 0;
let isoStr = '';
let clfSec = 0;
let clfStr = '';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? '0' + n : String(n));

function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoStr = new Date(ms).toISOString();
  }
  return isoStr;
}

function clfTime(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== clfSec) {
    clfSec = sec;
    const d = new Date(sec * 1000);
    clfStr = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  }
  return clfStr;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point
const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\xff]/;
/** escapeClf escapes as nginx does in its text logs: `"`, `\`, control and non-ASCII bytes as \xHH */
function escapeClf(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'latin1')) {
    out += b === 0x22 || b === 0x5c || b < 0x20 || b >= 0x7f ? '\\x' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b);
  }
  return out;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point
const NEEDS_JSON_ESCAPE = /["\\\x00-\x1f]/;
/** jsonString quotes a value for a JSON line; JSON.stringify only when something must be escaped */
function jsonString(s: string): string {
  return NEEDS_JSON_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** a value a client may omit: null when it did */
const jsonOptional = (s: string): string => (s === '' ? 'null' : jsonString(s));

const ms3 = (v: number) => Math.round(v * 1000) / 1000;

// Values of the line being written (lines are built one at a time, synchronously).
let lineStatus = 0;
let lineWall = 0;
let lineTotal = 0;
let lineUp = -1;

/** The case of each field in fieldValue (a field added to the schema without one does not compile). */
const FIELD_IDS: Record<AccessLogField, number> = {
  time: 0,
  requestId: 1,
  client: 2,
  method: 3,
  host: 4,
  path: 5,
  protocol: 6,
  status: 7,
  reason: 8,
  bytesIn: 9,
  bytesOut: 10,
  route: 11,
  upstream: 12,
  server: 13,
  upstreamMs: 14,
  totalMs: 15,
  userAgent: 16,
  referer: 17,
};

/**
 * every field, in the schema's default order (config/schema/serving.ts ACCESS_LOG_FIELDS; FIELD_IDS is
 * typed by it, so none is missing): used when a config has no accessFields (a loaded one always has).
 */
const ALL_FIELDS = Object.keys(FIELD_IDS) as AccessLogField[];

/**
 * fieldValue returns one JSON field's value (written after its key). A switch on a small integer
 * (a jump table) measured faster than a table of functions; fulcrum's own values need no escaping.
 */
function fieldValue(id: number, r: Observed): string | number {
  switch (id) {
    case 0 /* time */:
      return '"' + isoTime(lineWall) + '"';
    case 1 /* requestId */:
      return '"' + requestId(r.seq) + '"';
    case 2 /* client */:
      return '"' + r.clientIp + '"';
    case 3 /* method */:
      return jsonOptional(r.method);
    case 4 /* host */:
      return jsonOptional(r.host);
    case 5 /* path */:
      return jsonOptional(r.target);
    case 6 /* protocol */:
      // HTTP/2 by its ALPN name, as the HTTP/2 issue and Caddy's logs put it ("h2")
      return r.protocol === '' ? 'null' : r.protocol === 'HTTP/2' ? '"h2"' : '"' + r.protocol + '"';
    case 7 /* status */:
      return lineStatus;
    case 8 /* reason */:
      return r.reason === null ? 'null' : '"' + r.reason + '"';
    case 9 /* bytesIn */:
      return r.bytesIn;
    case 10 /* bytesOut */:
      return r.bytesOut;
    case 11 /* route */:
      return r.route === null ? 'null' : jsonString(r.route.name);
    case 12 /* upstream */:
      return r.upstream === null ? 'null' : '"' + r.upstream.name + '"';
    case 13 /* server */:
      return r.server === null ? 'null' : '"' + r.server.id + '"';
    case 14 /* upstreamMs */:
      return lineUp < 0 ? 'null' : lineUp;
    case 15 /* totalMs */:
      return lineTotal;
    case 16 /* userAgent */:
      return jsonOptional(r.userAgent);
    case 17 /* referer */:
      return jsonOptional(r.referer);
    default:
      return 'null';
  }
}

export class AccessLog {
  private pending = '';
  private timer: NodeJS.Timeout | null = null;
  private writing = false;
  private fd = -1;
  private opening: Promise<void> | null = null;
  private reopenWanted = false;
  private closed = false;
  /** where lines written after close go (the access log of the generation that replaced this one) */
  private successor: AccessLog | null = null;
  dropped = 0;
  /** JSON: `{"time":`, `,"requestId":` ... and the value of each, in logging.accessFields order */
  private readonly keys: string[];
  private readonly ids: Uint8Array;
  /** the line has the request's Host, User-Agent, Referer: read them from the request */
  readonly wantsHost: boolean;
  readonly wantsUserAgent: boolean;
  readonly wantsReferer: boolean;

  constructor(
    readonly target: string,
    readonly combined: boolean,
    readonly fields: readonly AccessLogField[] = ALL_FIELDS,
  ) {
    this.keys = fields.map((f, i) => `${i === 0 ? '{' : ','}"${f}":`);
    this.ids = Uint8Array.from(fields, (f) => FIELD_IDS[f]);
    this.wantsHost = !combined && fields.includes('host');
    this.wantsUserAgent = combined || fields.includes('userAgent');
    this.wantsReferer = combined || fields.includes('referer');
    if (target !== 'stdout') this.open();
  }

  /** write formats one request's line (called once per request, from observe.ts). */
  write(r: Observed, status: number, now: number): void {
    if (this.closed) {
      this.successor?.write(r, status, now);
      return;
    }
    lineWall = Math.round(performance.timeOrigin + now);
    lineTotal = ms3(now - r.startedAt);
    lineUp = r.headAt > 0 ? ms3(r.headAt - r.startedAt) : -1;
    lineStatus = status;
    let line: string;
    if (this.combined) {
      const server = r.server !== null ? r.server.id : '-';
      line =
        `${r.clientIp} - - [${clfTime(lineWall)}] "${r.method === '' ? '-' : `${escapeClf(r.method)} ${escapeClf(r.target)} ${r.protocol === 'HTTP/2' ? 'HTTP/2.0' : r.protocol}`}" ${status} ${r.bytesOut} "${escapeClf(r.referer || '-')}" "${escapeClf(r.userAgent || '-')}"` +
        ` rid=${requestId(r.seq)} upstream=${r.upstream !== null ? r.upstream.name : '-'} server=${server} urt=${lineUp < 0 ? '-' : (lineUp / 1000).toFixed(3)}` +
        ` rt=${(lineTotal / 1000).toFixed(3)} in=${r.bytesIn} route=${r.route !== null ? escapeClf(r.route.name) : '-'} reason=${r.reason ?? '-'}\n`;
    } else {
      const keys = this.keys;
      const ids = this.ids;
      line = keys[0]! + fieldValue(ids[0]!, r);
      for (let i = 1; i < keys.length; i++) line += keys[i]! + fieldValue(ids[i]!, r);
      line += '}\n';
    }
    if (this.pending.length > MAX_PENDING_CHARS) {
      this.dropped++;
      return;
    }
    this.pending += line;
    if (this.pending.length >= FLUSH_CHARS) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flushBound, FLUSH_MS);
  }

  private flushBound = (): void => this.flush();

  /** flush starts one asynchronous write of everything pending (unless one is under way). */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.writing || this.pending === '' || this.opening !== null) return;
    if (this.target !== 'stdout' && this.fd < 0) return;
    const data = this.pending;
    this.pending = '';
    this.writing = true;
    if (this.target === 'stdout') {
      const ok = process.stdout.write(data);
      if (ok) {
        this.writing = false;
      } else {
        process.stdout.once('drain', () => {
          this.writing = false;
          this.flush();
        });
      }
      return;
    }
    fs.write(this.fd, data, null, 'utf8', (err) => {
      this.writing = false;
      if (err) log.error('access log write failed', { file: this.target, error: err.message });
      if (this.reopenWanted) this.doReopen();
      else if (this.pending !== '') this.flush();
    });
  }

  /** reopen closes and reopens the file (after logrotate moved it away). */
  reopen(): void {
    if (this.target === 'stdout') return;
    this.reopenWanted = true;
    if (!this.writing) this.doReopen();
  }

  private doReopen(): void {
    this.reopenWanted = false;
    const old = this.fd;
    this.fd = -1;
    if (old >= 0) fs.close(old, () => {});
    this.open();
  }

  private open(): void {
    this.opening = new Promise((resolve) => {
      fs.open(this.target, 'a', 0o640, (err, fd) => {
        this.opening = null;
        if (err) {
          log.error('cannot open the access log; lines are dropped until SIGUSR1 or a reload', { file: this.target, error: err.message });
          this.pending = '';
        } else if (this.closed) {
          fs.close(fd, () => {});
        } else {
          this.fd = fd;
          this.flush();
        }
        resolve();
      });
    });
  }

  /** flushSync writes what is pending now (only when the process exits). */
  flushSync(): void {
    if (this.pending === '') return;
    try {
      if (this.target === 'stdout') fs.writeSync(1, this.pending);
      else if (this.fd >= 0) fs.writeSync(this.fd, this.pending);
    } catch {
      // nothing more can be done while exiting
    }
    this.pending = '';
  }

  /** close writes what is pending and closes the file; later lines go to `successor` (or are dropped). */
  close(successor: AccessLog | null): void {
    this.flush();
    this.closed = true;
    this.successor = successor === this ? null : successor;
    const fd = this.fd;
    if (fd < 0) return;
    const finish = () => (this.writing ? setTimeout(finish, 10) : fs.close(fd, () => {}));
    finish();
  }
}
