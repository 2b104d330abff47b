/**
 * A real redis-server for the shared-state tests, on a free loopback port, with persistence off
 * (`--save "" --appendonly no`). scripts/ensure-test-deps.sh (npm pretest) installs Debian's
 * redis-server when it is missing; `redisMissing()` says why a test skips when it could not.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './origin.js';

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  proc: ChildProcess;
  /** stops the server (SIGTERM, then SIGKILL after 2 s) */
  stop(): Promise<void>;
  /** kills it at once (SIGKILL), as a crash */
  kill(): Promise<void>;
}

/** redisMissing returns a reason to skip when redis-server is not installed, else false. */
export function redisMissing(): string | false {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'redis-server is not installed (npm test installs it with scripts/ensure-test-deps.sh when run as root)';
  }
}

/** startRedis starts redis-server on `port` (a free one by default) and waits until it accepts connections. */
export async function startRedis(port?: number, /** more redis-server options, e.g. ['--requirepass', 'x'] */ args: string[] = []): Promise<RedisServer> {
  port ??= await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not start in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc,
    stop: async () => {
      if (!alive()) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => alive() && proc.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    },
    kill: async () => {
      if (alive()) proc.kill('SIGKILL');
      await exited;
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
