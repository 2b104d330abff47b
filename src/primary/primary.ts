/**
 * The primary process: validates the config, runs the supervisor, turns signals into drain
 * (SIGTERM/SIGINT) and reload (SIGHUP). It never proxies traffic.
 */
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { readConfigFile, type LoadedConfig } from '../config/load.js';
import { AdminServer } from './admin.js';
import { registerCacheApi } from './cache-api.js';
import { registerCompressionStatus } from './compression-api.js';
import { registerAccessApi } from './access-api.js';
import { RateLimitTable } from './rate-limit-table.js';
import { ClientTable } from './client-table.js';
import { log, setLogLevel } from '../log.js';
import { Supervisor } from './supervisor.js';
import { registerMetricsApi } from './metrics-api.js';
import { opsMetrics } from './ops-metrics.js';
import { registerDashboard } from './dashboard.js';
import { watchConfig } from './config-watch.js';
import { bannerExtras } from './ops-banner.js';
import { VERSION } from '../version.js';
import { UpstreamRegistry } from './upstream-state.js';
import { HealthChecker } from './health-checker.js';
import { SessionTable } from './sessions.js';
import { registerUpstreamsApi } from './upstreams-api.js';
import { SharedState } from './shared-state.js';
import { shareSessions } from './shared-sessions.js';
import { shareRateLimits } from './shared-rate-limit.js';
import { DnsDiscovery } from './dns-discovery.js';
import { Reloader } from './reload.js';
import { registerExplainApi } from './explain-api.js';

export interface PrimaryHandle {
  supervisor: Supervisor;
  admin: AdminServer;
  stop(): Promise<void>;
}

export async function runPrimary(file: string, quiet = false, opts: { watch?: boolean } = {}): Promise<PrimaryHandle> {
  const cfg = readConfigFile(file);
  setLogLevel(cfg.raw.logging.level);
  const startedAt = Date.now();
  const admin = new AdminServer(cfg.raw.admin);
  await admin.listen();
  // Workers accept from the shared listening socket themselves (fulcrum's engine listens through
  // node:cluster): with node's default round-robin the primary would accept every connection and
  // pass it to a worker over IPC, a hop per connection through a process that must never proxy.
  // The kernel wakes a waiting worker instead, as nginx's workers share one socket (accept_mutex
  // off). The uWS engine listens with SO_REUSEPORT and is not affected.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('../worker-main.js', import.meta.url)),
    serialization: 'advanced',
    // e.g. FULCRUM_WORKER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=prof" to profile the workers only
    execArgv: [...process.execArgv, ...(process.env.FULCRUM_WORKER_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)],
  });

  let stopping: Promise<void> | null = null;
  let watcher: { close(): void } | null = null;
  const sup: Supervisor = new Supervisor(cfg, (reason) => {
    log.error('worker cannot run; stopping', { reason });
    void stop().then(() => process.exit(1));
  });
  const registry = new UpstreamRegistry(sup, cfg);
  const checker = new HealthChecker(registry);
  const sessions = new SessionTable(sup, cfg);
  // sharedState is read at start (changing it needs a restart)
  const shared = cfg.raw.sharedState ? new SharedState(cfg.raw.sharedState.redis) : null;
  const sharedSessions = shared ? shareSessions(shared, sessions, () => Object.keys(sup.config.upstreams)) : null;
  registry.onServersChanged = () => checker.sync();
  sup.reports.on('inFlight', (v, slot, pid) => registry.onInFlight(slot, pid, v));
  sup.reports.on('fails', (v) => registry.onFails(v));
  sup.reports.on('concurrency', (v, slot, pid) => registry.concurrency.onReport(slot, pid, v));
  sup.reports.on('sticky', (v) => sessions.onSticky(v));
  sup.reports.on('stickyTouch', (v) => sessions.onStickyTouch(v));
  sup.reports.onWorkerStart((w) => w.send({ ...registry.fullState(), ...sessions.fullState() }));
  const stop = (): Promise<void> =>
    (stopping ??= Promise.all([sup.stop(), dashboard.close(), admin.close()]).then(() => {
      checker.close();
      registry.close();
      sessions.close();
      sharedSessions?.close();
      sharedRates?.close();
      discovery.close();
      shared?.close();
      metrics.close();
      watcher?.close();
    }));

  const reloader = new Reloader(file, sup, (next) => {
    registry.sync(next);
    sessions.sync(next);
    void discovery.sync(next);
    admin.configure(next.raw.admin);
  });
  /** applyServers runs a runtime change of the servers (admin API, DNS discovery) as a reload does */
  const applyServers = async (next: LoadedConfig) => {
    const out = await sup.reload(next);
    if (out.ok) {
      registry.sync(next);
      sessions.sync(next);
    }
    return out;
  };
  registerUpstreamsApi(admin, sup, registry, applyServers);
  const discovery = new DnsDiscovery(cfg, () => sup.config, applyServers);
  const cacheApi = registerCacheApi(admin, sup, shared);
  const compressionSummary = registerCompressionStatus(sup);
  const ops = opsMetrics(
    registry,
    () => cacheApi.summary(),
    () => compressionSummary(),
  );
  const metrics = registerMetricsApi(admin, sup, () => ops() + (shared ? shared.prometheus() : ''));
  const statusBody = () => ({
    ...status(sup, startedAt, file, registry, sessions),
    generation: sup.generation,
    lastReload: reloader.last,
    cache: cacheApi.summary(),
    compression: compressionSummary(),
    ...metrics.status(),
    ...(shared ? { sharedState: shared.status() } : {}),
  });
  admin.route('GET', '/status', () => ({ body: statusBody() }));
  const dashboard = registerDashboard(admin, statusBody);
  registerAccessApi(admin, sup);
  const rateTable = new RateLimitTable(sup);
  const sharedRates = shared ? shareRateLimits(shared, rateTable) : null;
  const clientTable = new ClientTable(sup);
  sup.reports.on('rateLimit', (v, slot) => rateTable.onReport(slot, v));
  registerExplainApi(admin, sup, registry, sessions, rateTable);
  sup.reports.on('connections', (v, slot, pid) => clientTable.onReport(slot, pid, v));
  admin.route('POST', '/reload', async () => {
    const { status, ...body } = await reloader.reloadFile('admin');
    return { status, body };
  });

  await sup.start();
  checker.sync();
  await discovery.sync(cfg);
  if (stopping) return { supervisor: sup, admin, stop };
  const { host, port } = cfg.raw.listen;
  log.info('fulcrum started', {
    version: VERSION,
    engine: sup.engine,
    build: sup.engineBuild,
    workers: cfg.workers,
    listen: `${host}:${port}`,
    admin: admin.address,
    config: file,
  });
  if (!quiet) process.stdout.write(banner(cfg, sup.engineBuild) + `  reload     SIGHUP, POST /reload${opts.watch ? ', or save the file (watching it)' : ''}\n`);

  const onStop = (signal: string) => {
    log.info('stopping: draining in-flight requests', { signal, drainMs: sup.config.raw.timeouts.drainMs });
    void stop().then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => void reloader.reloadFile('SIGHUP'));
  if (opts.watch) {
    watcher = watchConfig(file, () => void reloader.reloadFile('watch'));
  }
  // logrotate: the workers reopen their access log files
  process.on('SIGUSR1', () => {
    for (const pid of sup.workerPids()) process.kill(pid, 'SIGUSR1');
  });
  return { supervisor: sup, admin, stop };
}

function status(sup: Supervisor, startedAt: number, file: string, registry?: UpstreamRegistry, sessions?: SessionTable) {
  const cfg = sup.config;
  return {
    version: VERSION,
    engine: sup.engine,
    engineBuild: sup.engineBuild,
    config: file,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    listen: cfg.raw.listen,
    workers: sup.workers().map((w) => ({ ...w, startedAt: new Date(w.startedAt).toISOString() })),
    upstreams: Object.fromEntries(
      Object.values(cfg.upstreams).map((u) => [
        u.name,
        {
          balance: u.balance,
          ...(u.sticky.mode !== 'none' ? { sticky: { mode: u.sticky.mode, sessions: sessions?.size(u.name) ?? 0 } } : {}),
          servers: u.servers.map((s) => ({ id: s.id, url: s.url, weight: s.weight, backup: s.backup, ...registry?.describe(u.name, s.id) })),
        },
      ]),
    ),
    routes: cfg.raw.routes,
    access: cfg.raw.access ? { allow: cfg.raw.access.allow.length, deny: cfg.raw.access.deny.length, denyAction: cfg.raw.access.denyAction } : null,
    healthTransitions: registry?.transitions ?? [],
  };
}

export function banner(cfg: LoadedConfig, engineBuild: string): string {
  const { host, port } = cfg.raw.listen;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const lines = [
    `fulcrum ${VERSION}  (engine ${engineBuild || 'unknown'}, node ${process.version})`,
    `  listening  http://${host}:${port}  (${cfg.workers} worker${cfg.workers === 1 ? '' : 's'})   try: curl http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`,
    ...(cfg.raw.tls
      ? [
          `  tls        https://${host}:${cfg.raw.tls.port}  (${1 + cfg.raw.tls.sni.length} certificate${cfg.raw.tls.sni.length ? 's' : ''}${cfg.raw.tls.redirectHttp ? `; http redirects with ${cfg.raw.tls.redirectStatus}` : ''})`,
        ]
      : []),
    `  admin      http://${cfg.raw.admin.host}:${cfg.raw.admin.port}/status${cfg.raw.admin.token ? '  (bearer token required)' : ''}`,
    ...bannerExtras(cfg),
    ...cfg.raw.routes.map(
      (r) => `  route      ${r.host}${r.pathPrefix} -> ${r.upstream}${r.name && r.name !== r.host + r.pathPrefix ? `  (name ${JSON.stringify(r.name)})` : ''}`,
    ),
    ...Object.values(cfg.upstreams).map(
      (u) =>
        `  upstream   ${u.name} (${u.balance}): ${u.servers.map((s) => s.url + (s.weight !== 1 ? ` w=${s.weight}` : '') + (s.backup ? ' backup' : '')).join(', ')}`,
    ),
  ];
  return lines.join('\n') + '\n';
}
