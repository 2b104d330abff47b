/**
 * AccessLog writes one line per finished request (logging.access: "stdout", "off" or a file path;
 * logging.format: "json" or "combined"), off the request path: a request appends its line to a
 * string (V8 ropes make that cheap) and a timer flushes the batch with one asynchronous write.
 * Never a synchronous write per request. Files are opened for append and reopened on SIGUSR1
 * (the primary forwards the signal to its workers), so logrotate's `postrotate kill -USR1` works
 * as it does for nginx. Every worker appends to the same file (O_APPEND); lines stay whole.
 */
import fs from 'node:fs';
import { log } from '../../log.js';
import type { ServerMetrics } from './metrics.js';
import { requestId } from './request-id.js';

/** Observed is what metrics and the access log read of a finished request (ProxyRequest). */
export interface Observed {
  readonly seq: number;
  readonly startedAt: number;
  /** status sent to the client (0: none, e.g. the client left first) */
  readonly status: number;
  /** when the upstream response head arrived (0: never) */
  readonly headAt: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly method: string;
  readonly target: string;
  readonly clientIp: string;
  /** read only for the combined access log format */
  readonly referer: string;
  readonly userAgent: string;
  readonly route: { readonly index: number; readonly host: string; readonly pathPrefix: string };
  readonly upstream: { readonly name: string; readonly noServerMetrics: ServerMetrics };
  readonly server: { readonly id: string; readonly metrics: ServerMetrics; readonly routeCodes: (Float64Array | undefined)[] } | null;
}

/** flush after this many characters are pending, or after FLUSH_MS */
const FLUSH_CHARS = 64 * 1024;
const FLUSH_MS = 50;
/** past this many pending characters (the destination is not keeping up) lines are dropped and counted */
const MAX_PENDING_CHARS = 16 * 1024 * 1024;

export interface AccessLogConfig {
  access: string;
  format: 'json' | 'combined';
}

/**
 * openAccessLog returns the access log for logging.access/format: `prev` (the running
 * generation's) when it is the same, else a new one (a file is opened for append; the caller
 * closes the one it replaces once the new generation runs). null when logging.access is "off".
 */
export function openAccessLog(cfg: AccessLogConfig, prev: AccessLog | null): AccessLog | null {
  const combined = cfg.format === 'combined';
  if (cfg.access === 'off') return null;
  if (prev !== null && prev.target === cfg.access && prev.combined === combined) return prev;
  return new AccessLog(cfg.access, combined);
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

const ms3 = (v: number) => Math.round(v * 1000) / 1000;

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

  constructor(
    readonly target: string,
    readonly combined: boolean,
  ) {
    if (target !== 'stdout') this.open();
  }

  /** write formats one request's line (called once per request, from observeFinish). */
  write(r: Observed, status: number, now: number): void {
    if (this.closed) {
      this.successor?.write(r, status, now);
      return;
    }
    const wall = Math.round(performance.timeOrigin + now);
    const total = ms3(now - r.startedAt);
    const up = r.headAt > 0 ? ms3(r.headAt - r.startedAt) : -1;
    const server = r.server !== null ? r.server.id : '';
    let line: string;
    if (this.combined) {
      line =
        `${r.clientIp} - - [${clfTime(wall)}] "${r.method} ${escapeClf(r.target)} HTTP/1.1" ${status} ${r.bytesOut} "${escapeClf(r.referer || '-')}" "${escapeClf(r.userAgent || '-')}"` +
        ` rid=${requestId(r.seq)} upstream=${r.upstream.name} server=${server || '-'} urt=${up < 0 ? '-' : (up / 1000).toFixed(3)} rt=${(total / 1000).toFixed(3)} in=${r.bytesIn}\n`;
    } else {
      line =
        `{"time":"${isoTime(wall)}","requestId":"${requestId(r.seq)}","client":"${r.clientIp}","method":"${r.method}","path":${JSON.stringify(r.target)},` +
        `"status":${status},"bytesIn":${r.bytesIn},"bytesOut":${r.bytesOut},"route":${r.route.index},"upstream":${JSON.stringify(r.upstream.name)},` +
        `"server":${server ? `"${server}"` : 'null'},"upstreamMs":${up < 0 ? 'null' : up},"totalMs":${total}}\n`;
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
