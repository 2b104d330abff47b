/**
 * The deploy files as shipped: the Dockerfile builds an image that starts, answers and passes its
 * own HEALTHCHECK (scripts/docker-check.mjs: `docker build` when a daemon answers, else the
 * Dockerfile's own stages in a temporary folder), and the systemd unit loads, hardened to an
 * exposure of 2.5 or less by `systemd-analyze security --offline` (systemd 252 reads a unit file
 * without a running systemd).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/fulcrum.js';

const UNIT = path.join(ROOT, 'deploy', 'fulcrum.service');
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

describe('deploy files', () => {
  it('the Dockerfile builds a small image that starts, proxies, is healthy and stops on SIGTERM', { timeout: 15 * 60_000 }, async () => {
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const p = spawn(process.execPath, [path.join(ROOT, 'scripts', 'docker-check.mjs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
      p.on('exit', (code) => resolve({ code, text }));
    });
    assert.equal(out.code, 0, out.text.slice(-4000));
    const summary = JSON.parse(/^docker-check: (\{.*\})$/m.exec(out.text)![1]!) as {
      mode: string;
      user: string;
      stopSignal: string;
      nodeModulesBytes?: number;
      uwsBinaries?: string[];
    };
    assert.notEqual(summary.user, 'root');
    assert.equal(summary.stopSignal, 'SIGTERM');
    if (summary.mode === 'emulated') {
      // 245 MB of production node_modules before, nearly all uWS binaries for other platforms
      assert.ok(summary.nodeModulesBytes! < 40 * 2 ** 20, `node_modules is ${summary.nodeModulesBytes} bytes`);
      assert.equal(summary.uwsBinaries!.length, 1, String(summary.uwsBinaries));
      assert.match(out.text, /GET \/hello through it: 200/);
      assert.match(out.text, /HEALTHCHECK passes/);
    }
  });

  it('the systemd unit loads and its exposure is 2.5 or less', {
    skip: hasSystemdAnalyze ? false : 'systemd-analyze is missing (Debian package systemd)',
  }, () => {
    const verify = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'no warnings');
    // --threshold is in tenths: exit non-zero above an exposure of 2.5
    const sec = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=25', '--no-pager', UNIT], { encoding: 'utf8' });
    const level = /Overall exposure level for fulcrum\.service: ([\d.]+)/.exec(sec.stdout)?.[1];
    assert.equal(sec.status, 0, `exposure ${level}:\n${sec.stdout}${sec.stderr}`);
    assert.ok(Number(level) <= 2.5, `exposure ${level}`);
  });

  it('the systemd unit starts without a prepared user, keeps only CAP_NET_BIND_SERVICE, and reloads through `fulcrum reload`', () => {
    const unit = readFileSync(UNIT, 'utf8');
    const keys = (k: string) => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]);
    assert.deepEqual(keys('DynamicUser'), ['yes']);
    assert.deepEqual(keys('User'), []);
    assert.deepEqual(keys('CapabilityBoundingSet'), ['CAP_NET_BIND_SERVICE']);
    assert.match(keys('ExecReload')[0]!, /fulcrum\.js reload -c \/etc\/fulcrum\/config\.json$/);
    assert.match(keys('ExecStartPre')[0]!, /fulcrum\.js check -c \/etc\/fulcrum\/config\.json$/);
    const logrotate = readFileSync(path.join(ROOT, 'deploy', 'logrotate.conf'), 'utf8');
    assert.match(logrotate, /systemctl kill --signal=USR1 --kill-whom=main fulcrum\.service/);
  });
});
