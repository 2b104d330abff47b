/**
 * native-bench's targets: the Debian programs it needs (installed with apt-get when allowed, else
 * skipped with the reason), and the peers it starts (nginx, HAProxy, the Node peers) with their
 * processes and versions. fulcrum itself is started by scripts/bench/proc.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { descendants, freePort, hasCommand, launch, pinned, ROOT, type Proc } from '../scripts/bench/proc.js';
import { haproxyConf, type NginxTls, nginxConf } from './configs.js';
import type { NodePeer, Target } from './options.js';

export const say = (s: string) => process.stderr.write(`native-bench: ${s}\n`);

/** A started target: where it listens and which processes to measure. */
export interface Running {
  target: Target;
  port: number;
  /** the HTTPS port with HTTP/2 (the h2 workloads), when it has one */
  tlsPort: number | null;
  proc: Proc | null;
  pids: () => number[];
  version: string;
}

let aptUpdated = false;
/** ensure returns true when `cmd` exists, installing Debian package `pkg` when allowed. */
export function ensure(cmd: string, pkg: string, install: boolean): boolean {
  if (hasCommand(cmd)) return true;
  const canApt = install && hasCommand('apt-get') && process.getuid?.() === 0;
  if (!canApt) {
    say(
      `${cmd} not found and cannot be installed here (${install ? 'needs root and apt-get' : '--no-install'}): skipping it. Install the Debian package "${pkg}" to include it.`,
    );
    return false;
  }
  say(`${cmd} not found: installing the Debian package "${pkg}" with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const tryInstall = () => execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env });
  try {
    tryInstall();
  } catch {
    try {
      if (!aptUpdated) execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env });
      aptUpdated = true;
      tryInstall();
    } catch (err) {
      say(`apt-get could not install ${pkg} (${(err as Error).message.split('\n')[0]}): skipping ${cmd}`);
      return false;
    }
  }
  if (!hasCommand(cmd)) {
    say(`${pkg} installed but ${cmd} is still not on PATH: skipping it`);
    return false;
  }
  return true;
}

function findBinary(name: string): string {
  for (const d of ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin']) {
    try {
      execFileSync('test', ['-x', path.join(d, name)]);
      return path.join(d, name);
    } catch {
      /* next */
    }
  }
  return name;
}

function versionOf(bin: string, args: string[]): string {
  try {
    const r = execFileSync('sh', ['-c', `"${bin}" ${args.join(' ')} 2>&1`], { encoding: 'utf8' });
    return r.trim();
  } catch {
    return '';
  }
}

function childTree(pid: number): number[] {
  try {
    const kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
    return [pid, ...kids.flatMap(childTree)];
  } catch {
    return [pid];
  }
}

const openPorts = new Set<number>();
function portOpen(port: number): boolean {
  // cheap synchronous check through /proc/net/tcp: a LISTEN socket on 127.0.0.1:port
  if (openPorts.has(port)) return true;
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    const tcp = readFileSync('/proc/net/tcp', 'utf8');
    if (tcp.split('\n').some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) {
      openPorts.add(port);
      return true;
    }
  } catch {
    /* not yet */
  }
  return false;
}

/**
 * nginxH2 says how this nginx turns HTTP/2 on: `http2 on;` from 1.25.1, the `http2` parameter of
 * `listen` before; null (with the reason said) when it was built without ngx_http_v2_module.
 */
export function nginxH2(): 'directive' | 'listen' | null {
  const bin = findBinary('nginx');
  const v = versionOf(bin, ['-V']);
  if (!v.includes('http_v2_module')) {
    say(`nginx was built without ngx_http_v2_module (${bin} -V): skipping nginx on the h2 workloads`);
    return null;
  }
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(v);
  const n = m ? Number(m[1]) * 1e6 + Number(m[2]) * 1e3 + Number(m[3]) : 0;
  return n >= 1_025_001 ? 'directive' : 'listen';
}

/** startNginx runs nginx as a proxy of the backend, with an HTTPS + HTTP/2 server too when `tls` has a certificate. */
export async function startNginx(
  dir: string,
  backendPort: number,
  workers: number,
  idle: number,
  cpus: string | null,
  tls: Omit<NginxTls, 'port'> | null,
): Promise<Running> {
  const port = await freePort();
  const tlsPort = tls ? await freePort() : null;
  const bin = findBinary('nginx');
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, port, backendPort, workers, idle, tls && tlsPort ? { ...tls, port: tlsPort } : null));
  const [cmd, args] = pinned(cpus, bin, ['-p', dir, '-c', conf]);
  const proc = await launch(cmd, args, () => portOpen(port) && (tlsPort === null || portOpen(tlsPort)), { what: 'nginx' });
  return { target: 'nginx', port, tlsPort, proc, pids: () => childTree(proc.pid), version: versionOf(bin, ['-v']) };
}

export async function startHaproxy(dir: string, backendPort: number, workers: number, cpus: string | null): Promise<Running> {
  const port = await freePort();
  const bin = findBinary('haproxy');
  const conf = path.join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConf(port, backendPort, workers));
  const [cmd, args] = pinned(cpus, bin, ['-db', '-f', conf]);
  const proc = await launch(cmd, args, () => portOpen(port), { what: 'haproxy' });
  return { target: 'haproxy', port, tlsPort: null, proc, pids: () => childTree(proc.pid), version: versionOf(bin, ['-v']).split('\n')[0] ?? '' };
}

const require = createRequire(import.meta.url);

/** the npm packages each Node peer needs (dev dependencies) */
const PEER_PACKAGES: Record<NodePeer, string[]> = {
  'http-proxy': ['http-proxy'],
  'fastify-proxy': ['fastify', '@fastify/http-proxy'],
  'uws-floor': [],
  'net-floor': [],
  'h2-floor': [],
  'h2own-floor': [],
};

function packageVersion(pkg: string): string | null {
  try {
    const main = require.resolve(pkg);
    // the package.json of the package that holds `main`
    for (let d = path.dirname(main); d !== path.dirname(d); d = path.dirname(d)) {
      try {
        const j = JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (j.name === pkg) return j.version ?? '?';
      } catch {
        /* up */
      }
    }
    return '?';
  } catch {
    return null;
  }
}

/** nodePeerInstalled says whether the peer's packages resolve, and why it is skipped when not. */
export function nodePeerInstalled(peer: NodePeer): boolean {
  const missing = PEER_PACKAGES[peer].filter((p) => packageVersion(p) === null);
  if (missing.length)
    say(
      `${peer}: the npm package${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not installed (dev dependencies: run npm ci without --omit=dev): skipping it`,
    );
  return missing.length === 0;
}

/** startNodePeer runs a peer script; h2-floor and h2own-floor listen with TLS (the run's certificate) and serve only the h2 workloads. */
export async function startNodePeer(
  peer: NodePeer,
  backendPort: number,
  workers: number,
  cpus: string | null,
  cert: { cert: string; key: string } | null,
): Promise<Running> {
  const port = await freePort();
  const script = path.join(ROOT, 'dist', 'native-bench', 'peers', `${peer}.js`);
  const tls = peer === 'h2-floor' || peer === 'h2own-floor';
  if (tls && cert === null) throw new Error(`no certificate: ${peer} serves only the h2-* workloads`);
  const [cmd, args] = pinned(cpus, process.execPath, [script, String(port), String(backendPort), String(workers), ...(tls ? [cert!.cert, cert!.key] : [])]);
  const proc = await launch(cmd, args, (out) => out.includes('listening'), { what: peer });
  const what =
    peer === 'uws-floor'
      ? 'bare uWS front + node:net keep-alive client (native-bench/peers/uws-floor.ts)'
      : peer === 'net-floor'
        ? "fulcrum's engine front + node:net keep-alive client (native-bench/peers/net-floor.ts)"
        : peer === 'h2-floor'
          ? 'bare node:http2 TLS server + node:net keep-alive client (native-bench/peers/h2-floor.ts)'
          : peer === 'h2own-floor'
            ? 'node:tls + own HTTP/2 frame layer and HPACK + node:net keep-alive client (native-bench/peers/h2own-floor.ts)'
            : PEER_PACKAGES[peer].map((p) => `${p} ${packageVersion(p)}`).join(' + ');
  const version = what + ` on Node ${process.versions.node}${workers > 1 ? `, node:cluster with ${workers} workers` : ', one process'}`;
  return { target: peer, port: tls ? 0 : port, tlsPort: tls ? port : null, proc, pids: () => [proc.pid, ...descendants(proc.pid)], version };
}
