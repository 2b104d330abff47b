/**
 * The answers fulcrum's HTTP/1.1 engine writes itself to requests it cannot parse
 * (src/worker/engine/engine-answers.ts) carry X-Request-Id and reach the access log with their
 * kind as reason, through the engine's answer hook and observe.ts observeEngineAnswer (the
 * worker installs the same hook in dispatch.ts): an in-process engine on a real socket, raw bytes,
 * and the access log file read back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setEngineAnswerHook } from '../src/worker/engine/engine-answers.js';
import { AccessLog } from '../src/worker/obs/access-log.js';
import { observeEngineAnswer } from '../src/worker/observe.js';
import { type EngineHarness, exchange, RawClient, startEngine } from './helpers/engine.js';

const H = 'Host: a.test\r\n';

/** lines reads the log until it has n lines (bounded). */
async function lines(file: string, n: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (got.length >= n || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('engine answers in the access log', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-engine-log-'));
  const jsonFile = path.join(dir, 'json.log');
  const combinedFile = path.join(dir, 'combined.log');
  let json: AccessLog;
  let combined: AccessLog;
  let e: EngineHarness;
  before(async () => {
    json = new AccessLog(jsonFile, false);
    combined = new AccessLog(combinedFile, true);
    setEngineAnswerHook((kind, status, seq, c, bytes) => {
      observeEngineAnswer(kind, status, seq, c, bytes, json);
      observeEngineAnswer(kind, status, seq, c, bytes, combined);
    });
    e = await startEngine({ headerMs: 300, limits: { maxHeaders: 5, maxUrlBytes: 100, maxBodyBytes: 1000 } });
  });
  after(async () => {
    setEngineAnswerHook(null);
    await e.close();
    json.close(null);
    combined.close(null);
  });

  it('logs each refusal with its status, kind, request id, the bytes sent, and what was read of the request', async () => {
    // [what the client sends, status, reason, method, path, protocol, host]
    const cases: [string, number, string, string | null, string | null, string | null, string | null][] = [
      ['GET /a b HTTP/1.1\r\n' + H + '\r\n', 400, 'malformed-request', null, null, null, null],
      [`GET /${'u'.repeat(200)} HTTP/1.1\r\n${H}\r\n`, 414, 'url-too-long', null, null, null, null],
      [`GET /h HTTP/1.1\r\n${H}${'X-A: 1\r\n'.repeat(6)}\r\n`, 431, 'head-too-large', 'GET', '/h', 'HTTP/1.1', 'a.test'],
      [`POST /up HTTP/1.0\r\n${H}Content-Length: 5000\r\n\r\n`, 413, 'request-too-large', 'POST', '/up', 'HTTP/1.0', 'a.test'],
      [`GET /v HTTP/1.2\r\n${H}\r\n`, 505, 'version-not-supported', null, null, null, null],
      [`GET /e HTTP/1.1\r\n${H}Expect: teapot\r\n\r\n`, 417, 'expectation-failed', 'GET', '/e', 'HTTP/1.1', 'a.test'],
      [`POST /te HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501, 'not-implemented', 'POST', '/te', 'HTTP/1.1', 'a.test'],
      [`CONNECT a.test:443 HTTP/1.1\r\n${H}\r\n`, 405, 'method-not-allowed', 'CONNECT', null, 'HTTP/1.1', null], // refused at its target
    ];
    for (const [i, [send, status, reason, method, target, protocol, host]] of cases.entries()) {
      const x = await exchange(e.port, send);
      assert.equal(x.responses.length, 1, send);
      const r = x.responses[0]!;
      assert.equal(r.status, status, send);
      assert.equal(r.headers.connection, 'close');
      assert.match(r.headers['x-request-id'] ?? '', /^[0-9a-f]{8}-[0-9a-z]+$/, `${status} carries X-Request-Id`);
      const got = await lines(jsonFile, i + 1);
      assert.equal(got.length, i + 1, `one line for the ${status}`);
      const l = JSON.parse(got[i]!);
      assert.deepEqual(
        [l.status, l.reason, l.requestId, l.client, l.method, l.path, l.protocol, l.host, l.route, l.upstream, l.server, l.bytesIn],
        [status, reason, r.headers['x-request-id'], '127.0.0.1', method, target, protocol, host, null, null, null, 0],
      );
      assert.equal(l.bytesOut, r.body.length, 'bytesOut: the body bytes sent');
    }
    const clf = await lines(combinedFile, cases.length);
    assert.match(
      clf[0]!,
      /^127\.0\.0\.1 - - \[[^\]]+\] "-" 400 \d+ "-" "-" rid=\S+ upstream=- server=- urt=- rt=0\.000 in=0 route=- reason=malformed-request$/,
    );
    assert.match(clf[2]!, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/h HTTP\/1\.1" 431 \d+ "-" "-" rid=\S+ .* reason=head-too-large$/);
  });

  it('names the refused request, not the one before it on the connection', async () => {
    const before = (await lines(jsonFile, 0)).length;
    const c = await RawClient.open(e.port);
    try {
      c.send(`GET /first HTTP/1.1\r\n${H}\r\nBAD\r\n\r\n`);
      await c.waitClosed(3000);
    } finally {
      c.socket.destroy();
    }
    const got = await lines(jsonFile, before + 1);
    const l = JSON.parse(got[before]!);
    assert.deepEqual([l.status, l.reason, l.method, l.path], [400, 'malformed-request', null, null]);
    // the first request went to the handler (the worker's dispatch logs those), the engine logged only its own answer
    assert.equal(got.length, before + 1);
  });

  it('logs a head that did not arrive in time as 408, with what was read of it', async () => {
    const before = (await lines(jsonFile, 0)).length;
    const c = await RawClient.open(e.port);
    try {
      c.send(`GET /slow HTTP/1.1\r\n${H}`);
      await c.waitClosed(3000);
    } finally {
      c.socket.destroy();
    }
    const got = await lines(jsonFile, before + 1);
    const l = JSON.parse(got[before]!);
    assert.deepEqual([l.status, l.reason, l.method, l.path, l.host], [408, 'head-timeout', 'GET', '/slow', 'a.test']);
  });
});
