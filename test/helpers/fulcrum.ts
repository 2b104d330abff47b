/**
 * Runs the real fulcrum process tree (bin/fulcrum.js start) on a config written for the test,
 * on a free loopback port, and waits until every worker listens.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './origin.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'fulcrum.js');

export interface Fulcrum {
  port: number;
  url: string;
  /** the admin listener, e.g. http://127.0.0.1:40123 */
  adminUrl: string;
  proc: ChildProcess;
  configFile: string;
  /** everything the process tree wrote to stderr (JSON log lines) */
  logs(): string;
  /** parsed JSON log lines */
  logLines(): Record<string, unknown>[];
  /** pids of the workers, from their log lines and /proc */
  workerPids(): number[];
  /** sends a signal and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export type ConfigInput = Record<string, unknown>;

/** startFulcrum writes `config` (listen.port filled in) and starts fulcrum on it. */
export async function startFulcrum(
  config: ConfigInput,
  opts: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number /** called with the config's folder before the start (write files the config names) */;
    beforeStart?: (dir: string) => void /** extra command-line arguments to `fulcrum start` */;
    args?: string[];
  } = {},
): Promise<Fulcrum> {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = {
    ...config,
    // FULCRUM_TEST_ENGINE=uws runs a test file on the uWS engine where the test does not choose one
    listen: {
      host: '127.0.0.1',
      port,
      ...(process.env.FULCRUM_TEST_ENGINE ? { engine: process.env.FULCRUM_TEST_ENGINE } : {}),
      ...(config.listen as object | undefined),
    },
    admin: { host: '127.0.0.1', port: adminPort, ...(config.admin as object | undefined) },
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-test-'));
  const configFile = path.join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(cfg, null, 2));
  opts.beforeStart?.(dir);
  const proc = spawn(process.execPath, [BIN, 'start', '-c', configFile, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const f: Fulcrum = {
    port,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${(cfg.admin as { port: number }).port}`,
    proc,
    configFile,
    logs: () => err,
    logLines: () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    workerPids: () => childPids(proc.pid!),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    exited,
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (!err.includes('"fulcrum started"')) {
    if (proc.exitCode !== null) throw new Error(`fulcrum exited with ${proc.exitCode} before starting:\n${err}\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`fulcrum did not start in time:\n${err}\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return f;
}

/**
 * startFulcrums starts several at once. When one cannot start, the others are stopped before
 * the error is thrown: a started fulcrum nobody holds would keep the test process alive.
 */
export async function startFulcrums(configs: ConfigInput[], opts: Parameters<typeof startFulcrum>[1] = {}): Promise<Fulcrum[]> {
  const started = await Promise.allSettled(configs.map((c) => startFulcrum(c, opts)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<Fulcrum>).value);
}

/** childPids lists the direct children of pid (the workers of a primary). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** runCli runs `fulcrum <args>` to completion and returns its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** upstreamConfig builds the usual one-upstream config for a list of origin URLs. */
export function oneUpstream(urls: string[], extra: Record<string, unknown> = {}, upstreamExtra: Record<string, unknown> = {}): ConfigInput {
  return {
    workers: 1,
    upstreams: { app: { balance: 'round-robin', servers: urls.map((url) => ({ url })), ...upstreamExtra } },
    routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    ...extra,
  };
}
