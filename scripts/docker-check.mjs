#!/usr/bin/env node
// Checks that the Dockerfile builds an image that starts and answers.
//
// With a Docker daemon (`docker info` answers): `docker build`, then the image's own `check` of
// its shipped config. Without one (CI here: only the docker client is installed), the Dockerfile
// is read and its stages are carried out in a temporary folder: each stage is a folder standing
// for its filesystem root, WORKDIR a folder in it, COPY copies from the checkout (minus
// .dockerignore) or from an earlier stage, RUN runs its command there with the stage's ENV. The
// commands are the Dockerfile's own, read from it, so the check and the image cannot drift. The
// base image is this machine's Node; npm reuses its cache (--prefer-offline), so the only network
// is the npm registry, for packages not cached yet.
//
// Then the final stage is checked as a user would meet it: a non-root USER, STOPSIGNAL SIGTERM, a
// HEALTHCHECK, no dev dependencies, one uWS binary per package, no test/ or native-bench/ code;
// its ENTRYPOINT + CMD start fulcrum (on free loopback ports, in front of a backend started here)
// and answer a proxied request, the HEALTHCHECK command passes, and SIGTERM stops it with exit 0.
//
// Usage: node scripts/docker-check.mjs [--keep] [--no-docker]
// Prints one line per step and, last, `docker-check: {json}` with the measurements.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const noDocker = args.includes('--no-docker');
const started = Date.now();
const say = (s) => process.stdout.write(`docker-check: ${s}\n`);
const fail = (s) => {
  process.stderr.write(`docker-check: FAILED: ${s}\n`);
  process.exit(1);
};

// ---- the Dockerfile ---------------------------------------------------------------------------

/** parseDockerfile returns the stages: { name, from, steps: [{ op, args, raw }] } */
function parseDockerfile(text) {
  const lines = [];
  let cur = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && cur === '') continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    if (cur.trim()) lines.push(cur.trim());
    cur = '';
  }
  const stages = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) fail(`cannot read Dockerfile line: ${line}`);
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      stages.push({ name: f[2] ?? String(stages.length), from: f[1], steps: [] });
      continue;
    }
    if (!stages.length) fail(`${op} before FROM`);
    const known = ['WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'EXPOSE', 'STOPSIGNAL', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD'];
    if (!known.includes(op)) fail(`the check does not know ${op}: teach scripts/docker-check.mjs what it means before using it`);
    stages.at(-1).steps.push({ op, rest });
  }
  return stages;
}

function jsonArgs(rest, what) {
  try {
    const a = JSON.parse(rest);
    if (Array.isArray(a) && a.every((x) => typeof x === 'string')) return a;
  } catch {}
  fail(`${what} must use the exec (JSON array) form: ${rest}`);
}

function ignoredBy(patterns, rel) {
  const first = rel.split('/')[0];
  return patterns.some((p) => {
    if (p.startsWith('*.')) return rel.endsWith(p.slice(1));
    return p === rel || p === first;
  });
}

// ---- helpers ----------------------------------------------------------------------------------

function duBytes(p) {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of readdirSync(p)) n += duBytes(path.join(p, e));
  return n;
}

function findFiles(dir, pred, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findFiles(p, pred, out);
    else if (pred(e.name)) out.push(p);
  }
  return out;
}

/** n distinct free loopback ports: all bound at once, then released */
async function freePorts(n) {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
  });
}

// ---- with a daemon ----------------------------------------------------------------------------

function dockerAnswers() {
  if (noDocker) return false;
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && r.stdout.trim() !== '';
}

function withDocker() {
  const tag = `fulcrum-check:${process.pid}`;
  say(`a Docker daemon answers: docker build -t ${tag} .`);
  const b = spawnSync('docker', ['build', '-t', tag, '.'], { cwd: ROOT, stdio: 'inherit', timeout: 20 * 60_000 });
  if (b.status !== 0) fail('docker build failed');
  const c = spawnSync('docker', ['run', '--rm', tag, 'check', '-c', '/etc/fulcrum/config.json'], { encoding: 'utf8', timeout: 120_000 });
  if (c.status !== 0) fail(`the image's fulcrum check failed:\n${c.stdout}${c.stderr}`);
  const u = spawnSync('docker', ['image', 'inspect', tag, '--format', '{{.Config.User}} {{.Config.StopSignal}} {{.Size}}'], { encoding: 'utf8' });
  const [user, stop, size] = u.stdout.trim().split(' ');
  spawnSync('docker', ['image', 'rm', tag], { stdio: 'ignore' });
  if (!user || user === 'root' || user === '0') fail(`the image runs as ${user || 'root'}`);
  if (stop !== 'SIGTERM') fail(`STOPSIGNAL is ${stop}`);
  say(JSON.stringify({ mode: 'docker', user, stopSignal: stop, imageBytes: Number(size), seconds: Math.round((Date.now() - started) / 1000) }));
}

// ---- without a daemon: the stages in a folder ---------------------------------------------------

async function withoutDocker() {
  const stages = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const work = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-docker-check-'));
  const cleanup = () => (keep ? say(`kept ${work}`) : rmSync(work, { recursive: true, force: true }));
  process.on('exit', cleanup);
  say(`no Docker daemon: running the Dockerfile's ${stages.length} stages in ${work}`);
  const roots = new Map();
  const timings = {};
  let final;
  for (const [i, stage] of stages.entries()) {
    const root = path.join(work, `stage-${i}-${stage.name}`);
    mkdirSync(root, { recursive: true });
    roots.set(stage.name, root);
    const st = { name: stage.name, root, workdir: '/', env: {}, user: null, stopSignal: null, healthcheck: null, entrypoint: [], cmd: [] };
    const inRoot = (p) => path.join(root, path.posix.isAbsolute(p) ? p : path.posix.join(st.workdir, p));
    for (const { op, rest } of stage.steps) {
      const t0 = Date.now();
      switch (op) {
        case 'WORKDIR':
          st.workdir = path.posix.resolve(st.workdir, rest);
          mkdirSync(inRoot('.'), { recursive: true });
          break;
        case 'ENV':
          for (const m of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) st.env[m[1]] = m[2].replace(/^"|"$/g, '');
          break;
        case 'COPY': {
          const parts = rest.split(/\s+/);
          const from = parts[0].startsWith('--from=') ? parts.shift().slice(7) : null;
          const dest = parts.pop();
          for (const src of parts) {
            let srcPath;
            if (from !== null) {
              if (!roots.has(from)) fail(`COPY --from=${from}: no such stage`);
              srcPath = path.join(roots.get(from), src);
            } else {
              const rel = path.posix.normalize(src).replace(/\/$/, '');
              if (ignoredBy(ignore, rel)) fail(`COPY ${src}: excluded by .dockerignore`);
              srcPath = path.join(ROOT, rel);
            }
            if (!existsSync(srcPath)) fail(`COPY ${src}: not found`);
            const isDir = statSync(srcPath).isDirectory();
            const target = dest.endsWith('/') && !isDir ? path.join(inRoot(dest), path.basename(src)) : inRoot(dest);
            mkdirSync(path.dirname(target), { recursive: true });
            const filter = from === null ? (p) => !ignoredBy(ignore, path.relative(ROOT, p).split(path.sep).join('/')) || p === srcPath : undefined;
            cpSync(srcPath, target, { recursive: true, filter });
          }
          break;
        }
        case 'RUN': {
          if (/(^|[\s=;&|])\/[A-Za-z]/.test(rest)) fail(`RUN uses an absolute path, which this check cannot map into the stage: ${rest}`);
          say(`[${stage.name}] RUN ${rest}`);
          const r = spawnSync('sh', ['-c', rest], {
            cwd: inRoot('.'),
            stdio: ['ignore', 'inherit', 'inherit'],
            env: { ...process.env, ...st.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
            timeout: 15 * 60_000,
          });
          if (r.status !== 0) fail(`[${stage.name}] RUN ${rest}: exit ${r.status ?? r.signal}`);
          break;
        }
        case 'USER':
          st.user = rest;
          break;
        case 'STOPSIGNAL':
          st.stopSignal = rest;
          break;
        case 'HEALTHCHECK': {
          const m = /CMD\s+(\[.*\])$/.exec(rest);
          if (!m) fail(`HEALTHCHECK must be HEALTHCHECK [options] CMD ["..."]: ${rest}`);
          st.healthcheck = jsonArgs(m[1], 'HEALTHCHECK');
          break;
        }
        case 'ENTRYPOINT':
          st.entrypoint = jsonArgs(rest, 'ENTRYPOINT');
          break;
        case 'CMD':
          st.cmd = jsonArgs(rest, 'CMD');
          break;
      }
      if (op === 'RUN' || op === 'COPY') timings[`${stage.name}: ${op} ${rest.slice(0, 60)}`] = Date.now() - t0;
    }
    final = st;
  }

  // ---- the final stage as shipped
  if (!final.user || final.user === 'root' || final.user === '0') fail(`the final stage runs as ${final.user ?? 'root (no USER)'}`);
  if (final.stopSignal !== 'SIGTERM') fail(`STOPSIGNAL is ${final.stopSignal ?? 'unset'}, expected SIGTERM`);
  if (!final.healthcheck) fail('no HEALTHCHECK');
  const app = path.join(final.root, final.workdir);
  const nm = path.join(app, 'node_modules');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const dev = Object.keys(pkg.devDependencies ?? {}).filter((d) => existsSync(path.join(nm, d)));
  if (dev.length) fail(`dev dependencies in the image: ${dev.join(', ')}`);
  const uwsBinaries = findFiles(nm, (n) => /^uws_.*\.node$/.test(n)).map((f) => path.relative(nm, f));
  const perPackage = new Map();
  for (const f of uwsBinaries) {
    const p = f.split(path.sep).slice(0, 2).join('/');
    perPackage.set(p, (perPackage.get(p) ?? 0) + 1);
  }
  if (uwsBinaries.length === 0) fail('no uWS binary in the image');
  if ([...perPackage.values()].some((n) => n > 1)) fail(`more than one uWS binary per package: ${uwsBinaries.join(', ')}`);
  const strays = ['test', 'native-bench'].filter((d) => existsSync(path.join(app, 'dist', d)));
  if (strays.length) fail(`compiled ${strays.join(' and ')} in the image`);
  const nodeModulesBytes = duBytes(nm);
  const appBytes = duBytes(final.root);

  // ---- ENTRYPOINT + CMD, as `docker run` would (absolute paths mapped into the stage)
  const map = (a) => (a.startsWith('/') && existsSync(path.join(final.root, a)) ? path.join(final.root, a) : a);
  const shipped = final.cmd.indexOf('-c') >= 0 ? final.cmd[final.cmd.indexOf('-c') + 1] : null;
  if (!shipped) fail('CMD names no config (-c)');
  const env = { ...process.env, ...final.env };
  const checkRun = spawnSync(map(final.entrypoint[0]), [...final.entrypoint.slice(1).map(map), 'check', '-c', map(shipped)], {
    cwd: app,
    env,
    encoding: 'utf8',
  });
  if (checkRun.status !== 0) fail(`fulcrum check of the shipped ${shipped} failed:\n${checkRun.stdout}${checkRun.stderr}`);
  say(`the shipped ${shipped} is valid`);

  const backend = http.createServer((req, res) => res.end(`backend saw ${req.url}\n`));
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  const [port, adminPort] = await freePorts(2);
  // the test config replaces the shipped one at its path, so CMD and HEALTHCHECK run unchanged
  writeFileSync(
    path.join(final.root, shipped),
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      workers: 1,
      upstreams: { app: { servers: [{ url: `http://127.0.0.1:${backend.address().port}` }] } },
      routes: [{ upstream: 'app' }],
    }),
  );
  const t0 = Date.now();
  const argv = [...final.entrypoint, ...final.cmd].map(map);
  const proc = spawn(argv[0], argv.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => (logs += d));
  proc.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r(code ?? signal)));
  const stop = () => proc.exitCode === null && proc.kill('SIGKILL');
  process.on('exit', stop);
  while (!logs.includes('"fulcrum started"')) {
    if (proc.exitCode !== null) fail(`the image's fulcrum exited before starting:\n${logs}`);
    if (Date.now() - t0 > 30_000) fail(`the image's fulcrum did not start within 30 s:\n${logs}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const startMs = Date.now() - t0;
  const answer = await get(`http://127.0.0.1:${port}/hello`);
  if (answer.status !== 200 || !answer.body.includes('backend saw /hello')) fail(`a proxied request answered ${answer.status}: ${answer.body}`);
  say(`started in ${startMs} ms; GET /hello through it: ${answer.status} "${answer.body.trim()}"`);
  const hc = final.healthcheck.map(map);
  const health = spawnSync(hc[0], hc.slice(1), { cwd: app, env, encoding: 'utf8', timeout: 10_000 });
  if (health.status !== 0) fail(`HEALTHCHECK ${final.healthcheck.join(' ')} exited ${health.status}:\n${health.stdout}${health.stderr}`);
  say(`HEALTHCHECK passes: ${health.stdout.trim()}`);
  proc.kill(final.stopSignal);
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('no exit within 35 s'), 35_000))]);
  backend.close();
  if (code !== 0) fail(`after ${final.stopSignal} the process ended with ${code}`);
  say(`${final.stopSignal}: drained and exited 0`);
  say(
    JSON.stringify({
      mode: 'emulated',
      user: final.user,
      stopSignal: final.stopSignal,
      healthcheck: final.healthcheck.join(' '),
      uwsBinaries,
      nodeModulesBytes,
      finalStageBytes: appBytes,
      startMs,
      stepMs: timings,
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );
}

if (dockerAnswers()) withDocker();
else await withoutDocker();
