/**
 * AccessLog writes one line per finished request (logging.access: "stdout", "off" or a file path;
 * logging.format: "json" or "combined"), off the request path: a request appends its line to a
 * string (V8 ropes make that cheap) and a timer flushes the batch with one asynchronous write.
 * Never a synchronous write per request. Files are opened for append and reopened on SIGUSR1
 * (the primary forwards the signal to its workers), so logrotate's `postrotate kill -USR1` works
 * as it does for nginx. Every worker appends to the same file (O_APPEND); lines stay whole.
 */
import fs from 'node:fs';
import type { ProxyRequest } from './proxy.js';
import { log } from '../log.js';

/** flush after this many characters are pending, or after FLUSH_MS */
const FLUSH_CHARS = 64 * 1024;
const FLUSH_MS = 50;
/** past this many pending characters (the destination is not keeping up) lines are dropped and counted */
const MAX_PENDING_CHARS = 16 * 1024 * 1024;

export interface AccessLogConfig {
  access: string;
  format: 'json' | 'combined';
}

/** the active access log, or null when logging.access is "off" */
export let accessLog: AccessLog | null = null;
let requestIdOf: (seq: number) => string = String;

/** configureAccessLog applies logging.access/format (at start and on every reload). */
export function configureAccessLog(cfg: AccessLogConfig, requestId: (seq: number) => string): void {
  requestIdOf = requestId;
  if (accessLog !== null && accessLog.target === cfg.access) {
    accessLog.combined = cfg.format === 'combined';
    return;
  }
  const old = accessLog;
  accessLog = cfg.access === 'off' ? null : new AccessLog(cfg.access, cfg.format === 'combined');
  old?.close();
}

let hooked = false;
/** hookAccessLogSignals reopens the file on SIGUSR1 and writes what is pending when the worker exits. */
export function hookAccessLogSignals(): void {
  if (hooked) return;
  hooked = true;
  process.on('SIGUSR1', () => accessLog?.reopen());
  process.on('exit', () => accessLog?.flushSync());
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
  dropped = 0;

  constructor(
    readonly target: string,
    public combined: boolean,
  ) {
    if (target !== 'stdout') this.open();
  }

  /** write formats one request's line (called once per request, from observeFinish). */
  write(r: ProxyRequest, status: number, now: number): void {
    const wall = Math.round(performance.timeOrigin + now);
    const total = ms3(now - r.startedAt);
    const up = r.headAt > 0 ? ms3(r.headAt - r.startedAt) : -1;
    const server = r.server !== null ? r.server.id : '';
    let line: string;
    if (this.combined) {
      line =
        `${r.clientIp} - - [${clfTime(wall)}] "${r.method} ${escapeClf(r.target)} HTTP/1.1" ${status} ${r.bytesOut} "${escapeClf(r.referer || '-')}" "${escapeClf(r.userAgent || '-')}"` +
        ` rid=${requestIdOf(r.seq)} upstream=${r.upstream.name} server=${server || '-'} urt=${up < 0 ? '-' : (up / 1000).toFixed(3)} rt=${(total / 1000).toFixed(3)} in=${r.bytesIn}\n`;
    } else {
      line =
        `{"time":"${isoTime(wall)}","requestId":"${requestIdOf(r.seq)}","client":"${r.clientIp}","method":"${r.method}","path":${JSON.stringify(r.target)},` +
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

  close(): void {
    this.flush();
    this.closed = true;
    const fd = this.fd;
    if (fd < 0) return;
    const finish = () => (this.writing ? setTimeout(finish, 10) : fs.close(fd, () => {}));
    finish();
  }
}
