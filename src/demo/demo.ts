/**
 * `fulcrum demo`: three demo backends on loopback (in a child process, so the primary stays a
 * supervisor) and fulcrum in front of them, round-robin, on http://127.0.0.1:8080.
 *
 * The ports are tried before anything starts, so a taken port is one clear sentence rather than a
 * worker's fatal log line. The generated config lives in a private temporary folder only while
 * the primary reads it at start, and is removed on every way out (started, failed, exited).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPrimary } from '../primary/primary.js';
import { ConfigError } from '../config/load.js';

export interface DemoOptions {
  port: number;
  adminPort: number;
  /** one worker by default, so that consecutive curls visibly take turns across the backends
   * (with several workers the kernel spreads connections and each worker rotates on its own) */
  workers: number | 'auto';
}

export async function runDemo(o: DemoOptions): Promise<void> {
  for (const [port, what, flag] of [
    [o.port, 'the proxy', '--port'],
    [o.adminPort, 'the admin listener', '--admin-port'],
  ] as const) {
    const err = await portTaken(port);
    if (err) {
      process.stderr.write(`fulcrum demo: port ${port} on 127.0.0.1 is not free for ${what} (${err}); choose another with ${flag} <port>\n`);
      process.exit(1);
    }
  }
  const child = fork(fileURLToPath(new URL('./backends.js', import.meta.url)), [], {
    env: { ...process.env, FULCRUM_DEMO_BACKENDS: '3' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  process.on('exit', () => child.kill());
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ports: number[] }).ports));
    child.once('exit', (code) => reject(new Error(`demo backends exited (${code})`)));
  });
  const config = {
    listen: { host: '127.0.0.1', port: o.port },
    admin: { host: '127.0.0.1', port: o.adminPort },
    workers: o.workers,
    upstreams: {
      demo: {
        balance: 'round-robin',
        servers: ports.map((p) => ({ url: `http://127.0.0.1:${p}` })),
        healthCheck: { path: '/healthz', intervalMs: 2000, timeoutMs: 1000 },
      },
    },
    routes: [{ name: 'demo', host: '*', pathPrefix: '/', upstream: 'demo' }],
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-demo-'));
  const removeConfig = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeConfig);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  try {
    await runPrimary(file);
  } catch (err) {
    child.kill();
    removeConfig();
    process.stderr.write(`fulcrum demo: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    process.exit(1);
  } finally {
    // read once at start; the demo has nothing to reload
    removeConfig();
  }
  process.stdout.write(
    `\ndemo: three backends on 127.0.0.1 ports ${ports.join(', ')}, fulcrum in front.\n` +
      `try:  for i in 1 2 3 4; do curl -s http://127.0.0.1:${o.port}/hello; done\n` +
      `      dashboard http://127.0.0.1:${o.adminPort}/   metrics http://127.0.0.1:${o.adminPort}/metrics\n` +
      `stop: Ctrl-C\n`,
  );
}

/** portTaken resolves with the error code when 127.0.0.1:port cannot be listened on, else null. */
function portTaken(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(null)));
  });
}
