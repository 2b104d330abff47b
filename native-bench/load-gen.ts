/**
 * native-bench's HTTP/1.1 load: the answer check before the runs (status and body size, decoded
 * for the gzip workloads, or the WebSocket echo) and one measured run with wrk (a Lua script that
 * prints one JSON line), autocannon in its own process, or the workload's own driver
 * (scripts/bench/run-workload.ts), each pinned to the load generator's CPU. HTTP/2 is h2.ts.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { type LoadResult, requestBody } from '../scripts/bench/load.js';
import { pinned, ROOT, RUN_WORKLOAD_JS } from '../scripts/bench/proc.js';
import type { Workload } from '../scripts/bench/workloads.js';
import { checkWsEcho } from '../scripts/bench/ws-load.js';
import { wrkScript } from './configs.js';

/** one measured run, whatever the load generator */
export interface GenResult {
  requests: number;
  durationS: number;
  errors: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

/** checkHttp sends the workload's request once; an error message, or null when the answer is right. */
function checkHttp(url: string, w: Workload): Promise<string | null> {
  const body = requestBody(w);
  const headers: Record<string, string> = { ...w.headers };
  if (body) headers['content-type'] = 'application/octet-stream';
  return new Promise((resolve) => {
    const req = http.request(url + w.path, { method: w.method, headers, agent: false, timeout: 10_000 }, (res) => {
      if (w.encoding && res.headers['content-encoding'] !== w.encoding) {
        res.resume();
        return resolve(`Content-Encoding ${JSON.stringify(res.headers['content-encoding'] ?? null)}, expected ${w.encoding}`);
      }
      // a compressed answer is counted decoded
      const body = w.encoding ? res.pipe(zlib.createGunzip()) : res;
      let n = 0;
      body.on('data', (d: Buffer) => (n += d.length));
      body.on('end', () =>
        resolve(res.statusCode !== 200 ? `status ${res.statusCode}` : n !== w.responseBytes ? `a body of ${n} bytes, expected ${w.responseBytes}` : null),
      );
      body.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err) => resolve(err.message));
    req.end(body);
  });
}

/** checkAnswer checks one target's answer to one workload (HTTP status and body size, or the WebSocket echo). */
export function checkAnswer(url: string, w: Workload): Promise<string | null> {
  return w.messageBytes !== undefined ? checkWsEcho(url, w) : checkHttp(url, w);
}

/** runDriver runs a workload's own load driver (e.g. the WebSocket echo) in a process of its own, pinned like wrk. */
function runDriver(url: string, w: Workload, durationS: number, cpus: string | null): Promise<GenResult> {
  const [cmd, args] = pinned(cpus, process.execPath, [RUN_WORKLOAD_JS, w.name, url, String(durationS)]);
  return runToExit(cmd, args).then(({ code, out, err }) => {
    let r: LoadResult;
    try {
      r = JSON.parse(out) as LoadResult;
    } catch {
      throw new Error(`the ${w.name} driver printed no result (exit ${code}):\n${out}${err}`);
    }
    return { requests: r.requests, durationS: r.durationS, errors: r.errors, p50Us: r.latencyUs.p50, p99Us: r.latencyUs.p99, p999Us: r.latencyUs.p999 };
  });
}

/** runToExit runs a load generator and resolves with its exit code and everything it printed. */
export function runToExit(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** runGen runs one HTTP/1.1 workload against url for durationS seconds. */
export function runGen(gen: 'wrk' | 'autocannon', url: string, w: Workload, durationS: number, cpus: string | null, dir: string): Promise<GenResult> {
  if (w.run) return runDriver(url, w, durationS, cpus);
  let cmd: string;
  let args: string[];
  if (gen === 'wrk') {
    const script = path.join(dir, `${w.name}.lua`);
    writeFileSync(script, wrkScript(w.method, w.bodyBytes ?? 0, w.headers));
    [cmd, args] = pinned(cpus, 'wrk', ['-t1', `-c${w.connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', script, url + w.path]);
  } else {
    const ac = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
    const extra: string[] = [];
    if (w.bodyBytes) {
      const bodyFile = path.join(dir, `${w.name}.body`);
      writeFileSync(bodyFile, requestBody(w)!);
      extra.push('-m', w.method, '-i', bodyFile, '-H', 'content-type=application/octet-stream');
    }
    for (const [k, v] of Object.entries(w.headers ?? {})) extra.push('-H', `${k}=${v}`);
    [cmd, args] = pinned(cpus, process.execPath, [ac, '-j', '-c', String(w.connections), '-d', String(durationS), '-t', '10', ...extra, url + w.path]);
  }
  return runToExit(cmd, args).then(({ code, out, err }) => {
    if (gen === 'wrk') {
      const line = out.split('\n').find((l) => l.startsWith('JSON '));
      if (!line) throw new Error(`wrk printed no result (exit ${code}):\n${out}${err}`);
      const j = JSON.parse(line.slice(5)) as { requests: number; durationUs: number; errors: number; p50: number; p99: number; p999: number };
      // wrk counts non-2xx/3xx statuses in errors.status
      return { requests: j.requests, durationS: j.durationUs / 1e6, errors: j.errors, p50Us: j.p50, p99Us: j.p99, p999Us: j.p999 };
    }
    const j = JSON.parse(out) as {
      requests: { total: number };
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      latency: Record<string, number>;
    };
    return {
      requests: j.requests.total,
      durationS: j.duration,
      errors: j.errors + j.timeouts + j.non2xx,
      p50Us: j.latency.p50! * 1000,
      p99Us: j.latency.p99! * 1000,
      p999Us: (j.latency.p99_9 ?? 0) * 1000,
    };
  });
}
