/**
 * native-bench: the bench workloads direct to the backend, through fulcrum, nginx, HAProxy and
 * two Node peers (node:http + http-proxy, fastify + @fastify/http-proxy), with equal resources,
 * alternating runs (A B C D, A B C D, ...), medians with min-max, and the ratio of fulcrum to
 * each peer. Answers "how much slower or faster than nginx is this, here?".
 *
 *   npm run bench:native -- [--duration 5] [--rounds 3] [--workloads get-100b,...] [--workers 1]
 *
 * Equal resources: one worker each (nginx worker_processes, HAProxy nbthread, fulcrum workers,
 * one Node process per Node peer, node:cluster workers with more); with one worker, every proxy
 * is pinned to CPU 0 and the backend and load generator to CPU 1 (taskset). The load generator
 * is wrk when installed (it costs less CPU than autocannon), else autocannon in its own process;
 * a workload with a driver of its own (ws-echo) runs it in a process of its own
 * (scripts/bench/run-workload.ts). nginx, HAProxy, wrk and h2load are Debian packages: when one is
 * missing, it is installed with apt-get if we can (root, apt-get present), else its runs are
 * skipped with a message; the Node peers are dev dependencies (npm ci), skipped when missing.
 * Before the runs, each target answers each workload once and the answer is checked (status and
 * body size, or the echo's size), so that a misconfigured peer cannot win by answering errors.
 * The gzip workloads (Workload.encoding) run only on the targets that compress (fulcrum on either engine, and
 * nginx with `gzip on` at the same level); their answer must carry Content-Encoding: gzip and
 * decode to the expected size. The HTTP/2 workloads (h2-*, h2.ts) run h2load against fulcrum's
 * HTTPS listener and nginx's http2 server (one certificate made for the run), nothing else.
 *
 * Files: targets.ts starts the peers, load-gen.ts and h2.ts run the load, report.ts writes the
 * tables; this file orders the runs.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuSeconds, freePort, hasCommand, loadAverage, machine, onInterrupt, rssBytes, startBackend, startFulcrum } from '../scripts/bench/proc.js';
import { fmtInt, fmtMs } from '../scripts/bench/report.js';
import { manyClients, type Workload } from '../scripts/bench/workloads.js';
import { type Cert, checkH2, h2Requests, h2WarmupRequests, isH2, makeCert, runH2load } from './h2.js';
import { checkAnswer, type GenResult, runGen, runToExit } from './load-gen.js';
import { NODE_PEERS, type NodePeer, type Options, parse, type Target } from './options.js';
import { report, type Sample } from './report.js';
import { ensure, nginxH2, nodePeerInstalled, type Running, say, startHaproxy, startNginx, startNodePeer } from './targets.js';

/** the targets that compress, as the gzip workloads need (the others answer them uncompressed) */
const COMPRESSING: Target[] = ['fulcrum', 'fulcrum-uws', 'baseline', 'nginx'];
/** the targets with an HTTPS + HTTP/2 listener, as the h2 workloads need (fulcrum-uws has no HTTP/2) */
const H2_TARGETS: Target[] = ['fulcrum', 'baseline', 'nginx', 'h2-floor', 'h2own-floor'];
/** the targets that serve only the h2 workloads */
const H2_ONLY: Target[] = ['h2-floor', 'h2own-floor'];

/** runsOn: does workload w run on target t? (h2-floor and h2own-floor serve only the h2 workloads) */
function runsOn(w: Workload, t: Target, run: Running | undefined): boolean {
  if (isH2(w)) return H2_TARGETS.includes(t) && run?.tlsPort != null;
  return !H2_ONLY.includes(t) && (w.encoding === undefined || COMPRESSING.includes(t));
}

/**
 * withTls adds fulcrum's HTTPS listener (HTTP/2 by ALPN, the default) with the run's certificate,
 * and `http2.implementation` only when one is asked for: a baseline built before that key existed
 * refuses a config that names it.
 */
const withTls =
  (port: number, cert: Cert, implementation: 'node' | 'fulcrum' | null, then: (cfg: Record<string, unknown>) => Record<string, unknown>) =>
  (cfg: Record<string, unknown>): Record<string, unknown> => {
    then(cfg);
    cfg.tls = { port, cert: cert.cert, key: cert.key };
    if (implementation !== null) cfg.http2 = { ...(cfg.http2 as object | undefined), implementation };
    return cfg;
  };

/**
 * forStreams lets fulcrum open an upstream connection per stream in flight (keepAlive.maxConnections,
 * default 1024 per worker, beyond which requests queue and then get 503): nginx has no such cap.
 * And it waits for them as long as nginx does (proxy_connect_timeout 60 s): thousands of connects
 * at once to a backend sharing a CPU with h2load took more than timeouts.upstreamConnectMs (2 s), 504.
 */
const forStreams =
  (n: number, then: (cfg: Record<string, unknown>) => Record<string, unknown>) =>
  (cfg: Record<string, unknown>): Record<string, unknown> => {
    then(cfg);
    if (n <= 1024) return cfg;
    for (const u of Object.values(cfg.upstreams as Record<string, Record<string, unknown>>))
      u.keepAlive = { ...(u.keepAlive as object | undefined), maxConnections: n };
    cfg.timeouts = { ...(cfg.timeouts as object | undefined), upstreamConnectMs: 60_000 };
    return cfg;
  };

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

/** RssMeter samples the summed RSS of a target's processes every 100 ms while a run lasts: its peak. */
class RssMeter {
  peak: number;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: number[]) {
    this.peak = rssBytes(pids);
    this.timer = setInterval(() => (this.peak = Math.max(this.peak, rssBytes(this.pids))), 100);
  }
  stop(): number {
    clearInterval(this.timer);
    return (this.peak = Math.max(this.peak, rssBytes(this.pids)));
  }
}

export async function main(argv: string[]): Promise<void> {
  let o: Options | null;
  try {
    o = parse(argv);
  } catch (err) {
    say((err as Error).message);
    process.exit(2);
  }
  if (!o) return;

  const pin = o.workers === 1 && os.availableParallelism() >= 2 && hasCommand('taskset');
  if (!pin) say(o.workers === 1 ? 'taskset or a second CPU missing: running unpinned' : `${o.workers} workers each: proxies are not pinned`);
  const cpuProxy = pin ? '0' : null;
  const cpuOther = pin ? '1' : null;

  const h1 = o.workloads.some((w) => !isH2(w));
  let gen = o.loadGen;
  if (gen === null) gen = h1 && ensure('wrk', 'wrk', o.install) ? 'wrk' : 'autocannon';
  else if (gen === 'wrk' && !ensure('wrk', 'wrk', o.install)) {
    say('wrk asked for but not available');
    process.exit(1);
  }
  if (o.baseline && !o.targets.includes('baseline')) o.targets = [...o.targets.filter((t) => t !== 'fulcrum'), 'fulcrum', 'baseline'];
  const isNodePeer = (t: Target): t is NodePeer => (NODE_PEERS as readonly string[]).includes(t);
  const targets = o.targets.filter((t) =>
    t === 'nginx'
      ? ensure('nginx', 'nginx', o!.install)
      : t === 'haproxy'
        ? ensure('haproxy', 'haproxy', o!.install)
        : isNodePeer(t)
          ? nodePeerInstalled(t)
          : true,
  );

  const dir = mkdtempSync(path.join(os.tmpdir(), 'native-bench-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d));
  let h2loadVersion: string | null = null;
  // the h2 workloads need h2load and a certificate; without either they are skipped, said why
  let cert: Cert | null = null;
  if (o.workloads.some(isH2)) {
    const names = o.workloads
      .filter(isH2)
      .map((w) => w.name)
      .join(', ');
    if (ensure('h2load', 'nghttp2-client', o.install)) cert = makeCert(dir);
    if (cert === null) {
      say(`skipping ${names}: no h2load or no certificate (above)`);
      o.workloads = o.workloads.filter((w) => !isH2(w));
    } else h2loadVersion = (await runToExit('h2load', ['--version'])).out.trim();
  }
  if (o.workloads.length === 0) {
    say('nothing left to run');
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  const backend = await startBackend(cpuOther);
  const running = new Map<Target, Running>();
  const stopAll = async () => {
    for (const r of running.values()) await r.proc?.stop();
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(stopAll);
  const samples = new Map<string, Sample[]>(); // `${workload}/${target}`
  const m = machine();
  try {
    running.set('direct', { target: 'direct', port: backend.port, tlsPort: null, proc: null, pids: () => [], version: 'uWS backend' });
    for (const t of targets) {
      if (t === 'fulcrum' || (t === 'baseline' && o.baseline)) {
        const tlsPort = cert ? await freePort() : null;
        // the baseline gets the same config (without the per-client cap, 640 HTTP/2 streams from one address would be refused)
        const streams = Math.max(0, ...o.workloads.filter(isH2).map((w) => w.connections * w.streams));
        const base = forStreams(streams + 64, manyClients(o.upstreamIdle));
        // --h2-implementation is this checkout's, --baseline-h2-implementation the baseline's; without them each runs its own default
        const impl = t === 'fulcrum' ? o.h2Implementation : o.baselineH2Implementation;
        const f = await startFulcrum(backend.port, o.workers, {
          cpus: cpuProxy,
          config: cert && tlsPort ? withTls(tlsPort, cert, impl, base) : base,
          bin: t === 'baseline' ? path.join(o.baseline!, 'bin', 'fulcrum.js') : undefined,
        });
        const version = t === 'fulcrum' ? 'fulcrum (this checkout)' : `fulcrum at ${o.baseline}`;
        running.set(t, { target: t, port: f.port, tlsPort, proc: f, pids: f.pids, version });
      } else if (t === 'fulcrum-uws') {
        const many = manyClients(o.upstreamIdle);
        const f = await startFulcrum(backend.port, o.workers, {
          cpus: cpuProxy,
          config: (cfg) => {
            many(cfg);
            cfg.listen = { ...(cfg.listen as object | undefined), engine: 'uws' };
            return cfg;
          },
        });
        running.set(t, { target: t, port: f.port, tlsPort: null, proc: f, pids: f.pids, version: 'fulcrum (this checkout), listen.engine "uws"' });
      } else if (t === 'nginx') {
        const h2 = cert ? nginxH2() : null;
        running.set(t, await startNginx(dir, backend.port, o.workers, o.upstreamIdle, cpuProxy, cert && h2 ? { ...cert, http2: h2 } : null));
      } else if (t === 'haproxy') running.set(t, await startHaproxy(dir, backend.port, o.workers, cpuProxy));
      else if (isNodePeer(t)) {
        try {
          running.set(t, await startNodePeer(t, backend.port, o.workers, cpuProxy, cert));
        } catch (err) {
          say(`${t} did not start (${(err as Error).message.trim().split('\n').slice(0, 3).join(' | ')}): skipping it`);
        }
      }
    }
    // every target answers every workload right before anything is measured
    for (const [t, run] of running) {
      for (const w of o.workloads) {
        if (!runsOn(w, t, run)) continue;
        const wrong = isH2(w) ? await checkH2(run.tlsPort!, w) : await checkAnswer(`http://127.0.0.1:${run.port}`, w);
        if (wrong === null) continue;
        if (t === 'direct' || t === 'fulcrum' || t === 'baseline') throw new Error(`${t} answered ${w.name} wrongly: ${wrong}`);
        say(`${t} answered ${w.name} wrongly (${wrong}): skipping ${t}`);
        await run.proc?.stop();
        running.delete(t);
        break;
      }
    }
    const order = targets.filter((t) => running.has(t));
    // each target's RSS once started and checked, before any load: the memory table's "idle"
    const idleRss = new Map<Target, number>([...running].map(([t, r]) => [t, rssBytes(r.pids())]));
    const runs = (w: Workload) => order.filter((t) => runsOn(w, t, running.get(t)));
    const total = o.workloads.reduce((n, w) => n + runs(w).length, 0) * o.rounds;
    say(
      `${total} runs of ${o.durationS} s (+${o.warmupS} s warm-up) with ${[...(h1 ? [gen] : []), ...(cert ? ['h2load'] : [])].join(' and ')}, ${order.join(' ')} alternating, ${o.rounds} rounds; about ${Math.ceil((total * (o.durationS + o.warmupS + 0.5)) / 60)} min; load ${loadAverage()}`,
    );
    let k = 0;
    for (const w of o.workloads) {
      for (let r = 0; r < o.rounds; r++) {
        for (const t of runs(w)) {
          k++;
          const run = running.get(t)!;
          const url = `http://127.0.0.1:${run.port}`;
          let load: () => Promise<GenResult>;
          if (isH2(w)) {
            // h2load runs a request count (h2.ts): the warm-up (always) gives the rate that sets it
            const warm = await runH2load(run.tlsPort!, w, h2WarmupRequests(w), cpuOther, dir);
            const rate = warm.requests / warm.durationS;
            if (o.warmupS > 1) await runH2load(run.tlsPort!, w, h2Requests(w, rate, o.warmupS - 1), cpuOther, dir);
            const n = h2Requests(w, rate, o.durationS);
            load = () => runH2load(run.tlsPort!, w, n, cpuOther, dir);
          } else {
            load = () => runGen(gen, url, w, o.durationS, cpuOther, dir);
            if (o.warmupS > 0) await runGen(gen, url, w, o.warmupS, cpuOther, dir);
          }
          const pids = run.pids();
          const c0 = cpuSeconds(pids);
          const rss = new RssMeter(pids);
          const rss0 = rss.peak;
          const g = await load();
          const c1 = cpuSeconds(pids);
          const peak = rss.stop();
          // a soak: what is still resident once its connections are gone for settleS seconds
          const settleS = isH2(w) ? (w.settleS ?? 0) : 0;
          if (settleS > 0) await new Promise((r) => setTimeout(r, settleS * 1000));
          const rss1 = rssBytes(pids);
          const cpu = c1.user + c1.system - c0.user - c0.system;
          const none = t === 'direct' || !g.requests;
          const s: Sample = {
            rps: g.requests / g.durationS,
            errors: g.errors,
            p50Us: g.p50Us,
            p99Us: g.p99Us,
            p999Us: g.p999Us,
            cpuUsPerRequest: none ? null : (cpu / g.requests) * 1e6,
            cpuUserUsPerRequest: none ? null : ((c1.user - c0.user) / g.requests) * 1e6,
            cpuSystemUsPerRequest: none ? null : ((c1.system - c0.system) / g.requests) * 1e6,
            faultsPerRequest: none ? null : (c1.minorFaults - c0.minorFaults) / g.requests,
            rssIdleBytes: t === 'direct' ? null : idleRss.get(t)!,
            rssBeforeBytes: t === 'direct' ? null : rss0,
            rssPeakBytes: t === 'direct' ? null : peak,
            rssAfterBytes: t === 'direct' ? null : rss1,
            load: loadAverage(),
          };
          const key = `${w.name}/${t}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          say(
            `[${k}/${total}] ${w.name} round ${r + 1} ${t}: ${fmtInt(s.rps)} req/s, p99 ${fmtMs(s.p99Us)} ms, ${s.errors} errors${s.cpuUsPerRequest !== null ? `, ${s.cpuUsPerRequest.toFixed(1)} µs CPU/req, ${s.faultsPerRequest!.toFixed(2)} faults/req, RSS ${mib(rss0)} -> peak ${mib(peak)}${settleS > 0 ? ` -> ${mib(rss1)} after ${settleS} s` : ''} MiB` : ''}`,
          );
        }
      }
    }
    const versions: Record<string, string> = Object.fromEntries([...running.values()].map((r) => [r.target, r.version]));
    if (h2loadVersion) versions.h2load = h2loadVersion;
    report(o, h1 ? gen : 'h2load', pin, order, samples, m, versions);
  } finally {
    unregister();
    await stopAll();
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`native-bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
