/**
 * HealthChecker runs the active health checks, in the primary only (never once per worker): for
 * every upstream with a `healthCheck`, each server is probed with `GET path` every intervalMs.
 * A probe passes when a complete response arrives within timeoutMs with a status in expectStatus
 * and (when set) a body containing / matching expectBody. `fall` failures in a row take an up
 * server down, `rise` passes in a row bring a down server back; the UpstreamRegistry logs the
 * change and pushes it to every worker, so workers learn it within one interval.
 *
 * Startup: servers start up, as in nginx and HAProxy, and go down after `fall` failed probes
 * (the first probe runs at once). Starting them down (Caddy's #6410) would answer 503 for the
 * first rise * intervalMs after every start, which users notice more than a few retried errors.
 */
import http from 'node:http';
import type { HealthCheckSpec } from '../config/load.js';
import type { ServerEntry, UpstreamRegistry } from './upstream-state.js';

const MAX_BODY_BYTES = 64 * 1024;

interface Probe {
  entry: ServerEntry;
  hc: HealthCheckSpec;
  ok: number;
  fail: number;
  timer: NodeJS.Timeout | null;
  req: http.ClientRequest | null;
  stopped: boolean;
}

export class HealthChecker {
  /** by "upstream/serverId" */
  private probes = new Map<string, Probe>();

  constructor(private readonly registry: UpstreamRegistry) {}

  /** sync starts probes for new servers, stops those of removed ones, restarts changed settings. */
  sync(): void {
    const want = new Map<string, ServerEntry>();
    for (const [name, servers] of this.registry.all()) {
      for (const [id, e] of servers) if (e.upstream.healthCheck) want.set(`${name}/${id}`, e);
    }
    for (const [key, p] of this.probes) {
      const e = want.get(key);
      if (!e || JSON.stringify(e.upstream.healthCheck) !== JSON.stringify(p.hc)) {
        this.stopProbe(p);
        this.probes.delete(key);
      } else p.entry = e;
    }
    for (const [key, e] of want) {
      if (this.probes.has(key)) continue;
      const p: Probe = { entry: e, hc: e.upstream.healthCheck!, ok: 0, fail: 0, timer: null, req: null, stopped: false };
      this.probes.set(key, p);
      this.run(p);
    }
  }

  close(): void {
    for (const p of this.probes.values()) this.stopProbe(p);
    this.probes.clear();
  }

  private stopProbe(p: Probe): void {
    p.stopped = true;
    if (p.timer) clearTimeout(p.timer);
    p.req?.destroy();
  }

  private run(p: Probe): void {
    if (p.stopped) return;
    const started = Date.now();
    this.probe(p, (ok, detail) => {
      p.req = null;
      if (p.stopped) return;
      this.record(p, ok, detail, started, Date.now() - started);
      p.timer = setTimeout(() => this.run(p), Math.max(0, p.hc.intervalMs - (Date.now() - started)));
      p.timer.unref();
    });
  }

  private record(p: Probe, ok: boolean, detail: string, at: number, durationMs: number): void {
    const e = p.entry;
    e.lastCheck = { at, ok, detail, durationMs };
    if (ok) {
      p.fail = 0;
      p.ok++;
      if (!e.activeUp && p.ok >= p.hc.rise) this.registry.setActive(e, true, `${p.ok} passing probes in a row`);
    } else {
      p.ok = 0;
      p.fail++;
      if (e.activeUp && p.fail >= p.hc.fall) this.registry.setActive(e, false, `${p.fail} failed probes in a row, last: ${detail}`);
    }
  }

  private probe(p: Probe, done: (ok: boolean, detail: string) => void): void {
    const { spec } = p.entry;
    const hc = p.hc;
    let finished = false;
    const finish = (ok: boolean, detail: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      req.destroy();
      done(ok, detail);
    };
    const req = http.request(
      {
        host: spec.host,
        port: spec.port,
        path: hc.path,
        method: 'GET',
        agent: false,
        headers: { host: spec.hostPort, 'user-agent': 'fulcrum-health-check', connection: 'close' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (!hc.expectStatus.some(([lo, hi]) => status >= lo && status <= hi)) {
          res.resume();
          finish(false, `status ${status}`);
          return;
        }
        if (hc.expectBody === undefined) {
          res.resume();
          res.on('end', () => finish(true, `status ${status}`));
          res.on('error', (err) => finish(false, err.message));
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < MAX_BODY_BYTES) body += c;
        });
        res.on('end', () => {
          const m = hc.expectBody;
          const ok = typeof m === 'string' ? body.includes(m) : m!.test(body);
          finish(ok, ok ? `status ${status}, body matches` : `status ${status}, body does not match ${String(m)}`);
        });
        res.on('error', (err) => finish(false, err.message));
      },
    );
    p.req = req;
    const timer = setTimeout(() => finish(false, `no complete response within ${hc.timeoutMs} ms`), hc.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    req.end();
  }
}
