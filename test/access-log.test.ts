/**
 * The access log: one line per request, JSON or combined, to a file reopened on SIGUSR1.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOrigin } from './helpers/origin.js';
import { oneUpstream, startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

async function waitLines(file: string, n: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let lines: string[] = [];
  while (Date.now() < deadline) {
    lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
  return lines;
}

describe('access log', () => {
  it('writes one JSON line per request and reopens the file on SIGUSR1', async () => {
    const a = await createOrigin('a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
    const file = path.join(dir, 'access.log');
    const f = await startFulcrum(oneUpstream([a.url], { workers: 2, logging: { access: file } }));
    try {
      const r = await request(`${f.url}/p/a%20th?q="1"`, { method: 'POST', body: 'hello' });
      assert.equal(r.status, 200);
      const [line] = await waitLines(file, 1);
      const e = JSON.parse(line!);
      assert.equal(e.method, 'POST');
      assert.equal(e.path, '/p/a%20th?q=%221%22');
      assert.equal(e.status, 200);
      assert.equal(e.client, '127.0.0.1');
      assert.equal(e.bytesIn, 5);
      assert.equal(e.bytesOut, r.body.length);
      assert.equal(e.upstream, 'app');
      assert.equal(e.server, `127.0.0.1_${a.port}`);
      assert.ok(e.upstreamMs >= 0 && e.totalMs >= e.upstreamMs);
      assert.match(e.requestId, /^[0-9a-f]{8}-[0-9a-z]+$/);
      assert.ok(!Number.isNaN(Date.parse(e.time)));

      // logrotate: move the file away, signal, and new lines go to a new file
      renameSync(file, file + '.1');
      f.proc.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 10; i++) assert.equal((await request(`${f.url}/after/${i}`)).status, 200);
      const fresh = await waitLines(file, 10);
      assert.equal(fresh.length, 10);
      assert.ok(fresh.every((l) => JSON.parse(l).path.startsWith('/after/')));
      assert.equal(
        readFileSync(file + '.1', 'utf8')
          .split('\n')
          .filter(Boolean).length,
        1,
      );
    } finally {
      await f.stop();
      await a.close();
    }
  });

  it('writes the combined format, with the request id and times appended', async () => {
    const a = await createOrigin('a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-access-'));
    const file = path.join(dir, 'access.log');
    const f = await startFulcrum(oneUpstream([a.url], { logging: { access: file, format: 'combined' } }));
    try {
      await request(`${f.url}/c?x=1`, { headers: { 'user-agent': 'tester "1"', referer: 'http://r.example/' } });
      const [line] = await waitLines(file, 1);
      assert.match(
        line!,
        /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/c\?x=1 HTTP\/1\.1" 200 \d+ "http:\/\/r\.example\/" "tester \\x221\\x22" rid=\S+ upstream=app server=127\.0\.0\.1_\d+ urt=\d+\.\d{3} rt=\d+\.\d{3} in=0$/,
      );
    } finally {
      await f.stop();
      await a.close();
    }
  });
});
