/**
 * `fulcrum demo`: three demo backends on loopback (in a child process, so the primary stays a
 * supervisor) and fulcrum in front of them, round-robin, on http://127.0.0.1:8080.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPrimary } from '../primary/primary.js';
import { ConfigError } from '../config/load.js';

export async function runDemo(args: string[]): Promise<void> {
  let port = 8080;
  // One worker by default so that consecutive curls visibly take turns across the backends
  // (with several workers the kernel spreads connections and each worker rotates on its own).
  let workers: number | 'auto' = 1;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--workers') {
      const v = args[++i];
      workers = v === 'auto' ? 'auto' : Number(v);
    }
  }
  const child = fork(fileURLToPath(new URL('./backends.js', import.meta.url)), [], {
    env: { ...process.env, FULCRUM_DEMO_BACKENDS: '3' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ports: number[] }).ports));
    child.once('exit', (code) => reject(new Error(`demo backends exited (${code})`)));
  });
  const config = {
    listen: { host: '127.0.0.1', port },
    workers,
    upstreams: {
      demo: { balance: 'round-robin', servers: ports.map((p) => ({ url: `http://127.0.0.1:${p}` })) },
    },
    routes: [{ host: '*', pathPrefix: '/', upstream: 'demo' }],
  };
  const file = path.join(os.tmpdir(), `fulcrum-demo-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  process.on('exit', () => child.kill());
  try {
    await runPrimary(file);
  } catch (err) {
    child.kill();
    if (err instanceof ConfigError) {
      process.stderr.write(`fulcrum demo: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  process.stdout.write(
    `\ndemo: three backends on 127.0.0.1 ports ${ports.join(', ')}, fulcrum in front (config ${file}).\n` +
      `try:  for i in 1 2 3 4; do curl -s http://127.0.0.1:${port}/hello; done\n` +
      `stop: Ctrl-C\n`,
  );
}
