/**
 * The primary process: validates the config, runs the supervisor, turns signals into drain
 * (SIGTERM/SIGINT) and reload (SIGHUP). It never proxies traffic.
 */
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { ConfigError, readConfigFile, type LoadedConfig } from '../config/load.js';
import { log, setLogLevel } from '../log.js';
import { Supervisor } from './supervisor.js';
import { VERSION } from '../version.js';

export interface PrimaryHandle {
  supervisor: Supervisor;
  stop(): Promise<void>;
}

export async function runPrimary(file: string, quiet = false): Promise<PrimaryHandle> {
  const cfg = readConfigFile(file);
  setLogLevel(cfg.raw.logging.level);
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('../worker-main.js', import.meta.url)),
    serialization: 'advanced',
  });

  let stopping: Promise<void> | null = null;
  const sup: Supervisor = new Supervisor(cfg, (reason) => {
    log.error('worker cannot run; stopping', { reason });
    void stop().then(() => process.exit(1));
  });
  const stop = (): Promise<void> => (stopping ??= sup.stop());

  await sup.start();
  if (stopping) return { supervisor: sup, stop };
  const { host, port } = cfg.raw.listen;
  log.info('fulcrum started', { version: VERSION, uws: sup.uwsBuild, workers: cfg.workers, listen: `${host}:${port}`, config: file });
  if (!quiet) process.stdout.write(banner(cfg, sup.uwsBuild));

  const onStop = (signal: string) => {
    log.info('stopping: draining in-flight requests', { signal, drainMs: sup.config.raw.timeouts.drainMs });
    void stop().then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => {
    let next: LoadedConfig;
    try {
      next = readConfigFile(file);
    } catch (err) {
      const issues = err instanceof ConfigError ? err.message : (err as Error).message;
      log.error('reload refused: the config has errors; the running config stays', { errors: issues });
      return;
    }
    void sup.reload(next).then(() => log.info('reloaded', { config: file, workers: next.workers }));
  });
  return { supervisor: sup, stop };
}

export function banner(cfg: LoadedConfig, uwsBuild: string): string {
  const { host, port } = cfg.raw.listen;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const lines = [
    `fulcrum ${VERSION}  (uWS ${uwsBuild || 'unknown'}, node ${process.version})`,
    `  listening  http://${host}:${port}  (${cfg.workers} worker${cfg.workers === 1 ? '' : 's'})   try: curl http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`,
    ...cfg.raw.routes.map((r) => `  route      ${r.host}${r.pathPrefix} -> ${r.upstream}`),
    ...Object.values(cfg.upstreams).map((u) => `  upstream   ${u.name} (${u.balance}): ${u.servers.map((s) => s.url + (s.weight !== 1 ? ` w=${s.weight}` : '') + (s.backup ? ' backup' : '')).join(', ')}`),
  ];
  return lines.join('\n') + '\n';
}
