/**
 * The command line as an operator meets it: every command's --help, flag errors (exit 2 with the
 * usage), `fulcrum demo` (its ports, a taken port, nothing left on disk), and `fulcrum reload` /
 * `fulcrum health` against a running fulcrum. Always the real bin/fulcrum.js.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { BIN, ROOT, oneUpstream, runCli, startFulcrum } from './helpers/fulcrum.js';
import { createOrigin, freePort } from './helpers/origin.js';
import { request } from './helpers/client.js';
import { until } from './helpers/wait.js';

const COMMANDS = ['start', 'check', 'explain', 'reload', 'health', 'demo'];

describe('fulcrum <command> --help and flag errors', () => {
  it('every command answers --help and -h with its own usage and exit 0, starting nothing', async () => {
    const runs = COMMANDS.flatMap((cmd) => ['--help', '-h'].map(async (flag) => ({ cmd, r: await runCli([cmd, flag]) })));
    for (const { cmd, r } of await Promise.all(runs)) {
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: fulcrum ${cmd}`));
      assert.equal(r.stderr, '');
    }
  });

  it('every command refuses an unknown flag with its usage and exit 2', async () => {
    const runs = COMMANDS.map(async (cmd) => ({ cmd, r: await runCli([cmd, '--wacth']) }));
    for (const { cmd, r } of await Promise.all(runs)) {
      assert.equal(r.code, 2, cmd);
      assert.match(r.stderr, /Unknown option '--wacth'/);
      assert.match(r.stderr, new RegExp(`usage: fulcrum ${cmd}`));
      assert.equal(r.stdout, '');
    }
  });

  it('bench (its own option parser) answers --help and refuses an unknown flag with exit 2', async () => {
    const [help, bad] = await Promise.all([runCli(['bench', '--help']), runCli(['bench', '--wacth'])]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: fulcrum bench/);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option "--wacth"/);
  });

  it('fulcrum help <command> and fulcrum --help', async () => {
    assert.match((await runCli(['help', 'reload'])).stdout, /^usage: fulcrum reload/);
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    for (const cmd of [...COMMANDS, 'bench']) assert.match(top.stdout, new RegExp(`fulcrum ${cmd}`));
  });

  it('refuses a stray argument and an unknown command with exit 2', async () => {
    const stray = await runCli(['check', 'config.json']);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /Unexpected argument 'config.json'/);
    const unknown = await runCli(['strat']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "strat"/);
  });

  it('demo reports bad flag values as flag errors (exit 2), not as config errors', async () => {
    for (const [args, re] of [
      [['--port', 'abc'], /--port needs a port number 1-65535, got "abc"/],
      [['--admin-port', '70000'], /--admin-port needs a port number 1-65535, got "70000"/],
      [['--workers', 'many'], /--workers needs "auto" or an integer 1-1024, got "many"/],
      [['--port', '9000', '--admin-port', '9000'], /--port and --admin-port must differ/],
    ] as [string[], RegExp][]) {
      const r = await runCli(['demo', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\bat \S+:\d+:\d+/, 'no stack trace');
    }
  });
});

/** demoFiles lists what `fulcrum demo` may leave in the temp folder (old and new naming). */
const demoFiles = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith('fulcrum-demo-'));

describe('fulcrum demo', () => {
  it('serves on --port with its admin listener on --admin-port, and leaves no file behind', { timeout: 30_000 }, async () => {
    const before = new Set(demoFiles());
    const [port, adminPort] = [await freePort(), await freePort()];
    const p = spawn(process.execPath, [BIN, 'demo', '--port', String(port), '--admin-port', String(adminPort)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    try {
      await until(() => out.includes('stop: Ctrl-C') || p.exitCode !== null, 'the demo banner', 20_000);
      assert.equal(p.exitCode, null, out);
      const r = await request(`http://127.0.0.1:${port}/hello`);
      assert.equal(r.status, 200);
      assert.match(r.text, /hello from backend-\d/);
      assert.equal((await request(`http://127.0.0.1:${adminPort}/status`)).status, 200);
      assert.deepEqual(
        demoFiles().filter((n) => !before.has(n)),
        [],
        'no config file on disk while it runs',
      );
    } finally {
      p.kill('SIGINT');
    }
    assert.equal(await exited, 0, out);
    assert.deepEqual(
      demoFiles().filter((n) => !before.has(n)),
      [],
    );
  });

  it('says which port is taken and which flag to use, without a stack trace', { timeout: 20_000 }, async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const busy = (taken.address() as net.AddressInfo).port;
    try {
      const before = new Set(demoFiles());
      const admin = await runCli(['demo', '--port', String(await freePort()), '--admin-port', String(busy)]);
      assert.equal(admin.code, 1);
      assert.match(
        admin.stderr,
        new RegExp(`port ${busy} on 127\\.0\\.0\\.1 is not free for the admin listener \\(EADDRINUSE\\); choose another with --admin-port`),
      );
      const proxy = await runCli(['demo', '--port', String(busy), '--admin-port', String(await freePort())]);
      assert.equal(proxy.code, 1);
      assert.match(proxy.stderr, /is not free for the proxy \(EADDRINUSE\); choose another with --port/);
      for (const r of [admin, proxy]) assert.doesNotMatch(r.stderr, /\bat \S+:\d+:\d+/, 'no stack trace');
      assert.deepEqual(
        demoFiles().filter((n) => !before.has(n)),
        [],
      );
    } finally {
      taken.close();
    }
  });
});

describe('fulcrum reload and fulcrum health', () => {
  it('reload exits 0 when the running fulcrum took the new config and 1 with the errors when it refused', { timeout: 30_000 }, async () => {
    const a = await createOrigin('a');
    const f = await startFulcrum(oneUpstream([a.url]));
    try {
      const ok = await runCli(['reload', '-c', f.configFile]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /reloaded/);

      const health = await runCli(['health', '-c', f.configFile]);
      assert.equal(health.code, 0, health.stderr);
      assert.match(health.stdout, /healthy \(1 worker running/);

      const cfg = {
        ...oneUpstream([a.url]),
        listen: { host: '127.0.0.1', port: f.port },
        admin: { host: '127.0.0.1', port: Number(new URL(f.adminUrl).port) },
      };
      writeFileSync(f.configFile, JSON.stringify({ ...cfg, workers: 'many' }));
      const refused = await runCli(['reload', '-c', f.configFile]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /reload refused by http:\/\/127\.0\.0\.1:\d+ \(HTTP 4\d\d\)/);
      assert.match(refused.stderr, /\$\.workers: got "many"/);
      // the running config stays, and still answers
      assert.equal((await request(`${f.url}/x`)).status, 200);

      // a syntax error: the admin address still comes from --admin
      writeFileSync(f.configFile, '{ "workers": 1, }');
      const broken = await runCli(['reload', '-c', f.configFile, '--admin', f.adminUrl]);
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /line 1, column 17/);
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('reload and health exit 1 saying so when nothing answers', async () => {
    const port = await freePort();
    for (const cmd of ['reload', 'health']) {
      const r = await runCli([cmd, '--admin', `http://127.0.0.1:${port}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ECONNREFUSED at http:\/\/127\.0\.0\.1:\d+; is fulcrum running/);
    }
  });
});
