/**
 * http2.implementation switched by a reload, through the real `fulcrum start`: a worker loads
 * only the implementation it serves with (h2-front.ts loadH2) and loads the other while it
 * prepares the reloaded generation, so that no new connection waits for an import or fails. A
 * client opens a new h2c connection and sends a GET in a loop while the config goes node ->
 * fulcrum -> node; which implementation answered is told by its SETTINGS (node:http2 announces
 * ENABLE_PUSH 0, fulcrum's frame layer does not). Connections opened before a switch (one with a
 * WebSocket over HTTP/2) keep their implementation and go on working.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { adminCall } from './helpers/client.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { h2connect, h2request } from './helpers/h2.js';
import { until } from './helpers/wait.js';
import { wsFrame, WsReader } from './helpers/ws-frames.js';
import { createWsOrigin } from './helpers/ws-origin.js';

/** served opens a new h2c connection, sends one GET, and says which implementation answered it. */
async function served(url: string): Promise<'node' | 'fulcrum'> {
  const s = await h2connect(url);
  try {
    const r = await h2request(s, { ':path': '/r' }, undefined, 3000);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    // the server's SETTINGS came before its response
    return s.remoteSettings.enablePush === false ? 'node' : 'fulcrum';
  } finally {
    s.close();
  }
}

describe('http2.implementation switched by a reload', () => {
  it('node -> fulcrum -> node: new connections use the new one at once, none waits or fails, open ones go on', { timeout: 90_000 }, async () => {
    const a = await createWsOrigin('a');
    const f = await startFulcrum({
      workers: 1,
      listen: { h2c: true },
      logging: { access: 'off' },
      http2: { implementation: 'node' },
      upstreams: { app: { servers: [{ url: a.url }] } },
      routes: [{ host: '*', pathPrefix: '/', upstream: 'app' }],
    });
    let running = true;
    try {
      assert.equal(await served(f.url), 'node');
      // a connection on node:http2 with a WebSocket open across both switches
      const old = await h2connect(f.url);
      const ws = old.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':scheme': 'http',
          ':authority': `127.0.0.1:${f.port}`,
          ':path': '/ws',
          'sec-websocket-version': '13',
        },
        { endStream: false },
      );
      const reader = new WsReader(ws);
      await new Promise((resolve) => ws.once('response', resolve));
      const echo = async (text: string) => {
        const n = reader.messages.length;
        ws.write(wsFrame(1, text));
        assert.equal((await reader.next(n)).data.toString(), text);
      };
      await echo('before');

      const seen: string[] = [];
      const failures: string[] = [];
      const loop = (async () => {
        while (running) {
          try {
            seen.push(await served(f.url));
          } catch (err) {
            failures.push(String(err));
          }
        }
      })();
      const cfg = JSON.parse(readFileSync(f.configFile, 'utf8'));
      const reload = async (implementation: string) => {
        writeFileSync(f.configFile, JSON.stringify({ ...cfg, http2: { implementation } }));
        const r = await adminCall(f.adminUrl, 'POST', '/reload');
        assert.equal(r.status, 200, r.text);
      };
      await until(() => seen.length > 5, 'connections before the switch', 10_000);
      await reload('fulcrum');
      await until(() => seen.at(-1) === 'fulcrum', 'a connection served by fulcrum', 10_000);
      const mark = seen.length;
      await until(() => seen.length > mark + 5, 'more connections after the switch', 10_000);
      assert.ok(
        seen.slice(mark).every((k) => k === 'fulcrum'),
        'every connection after the switch',
      );
      await echo('after one switch');
      assert.equal((await h2request(old, { ':path': '/old' })).status, 200, 'the old connection serves new streams');
      await reload('node');
      await until(() => seen.at(-1) === 'node', 'a connection served by node:http2 again', 10_000);
      await echo('after two switches');
      running = false;
      await loop;
      assert.deepEqual(failures, [], `${failures.length} of ${seen.length + failures.length} connections failed`);
      ws.close(http2.constants.NGHTTP2_CANCEL);
      old.close();
    } finally {
      running = false;
      await f.stop();
      await a.close();
    }
  });
});
