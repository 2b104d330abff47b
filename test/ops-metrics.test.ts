/**
 * GET /metrics also carries health, cache, compression and edge rejections.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin } from './helpers/origin.js';
import { startFulcrum } from './helpers/fulcrum.js';
import { request } from './helpers/client.js';

it('exports server health, cache results, compression and rejections by reason', async () => {
  const a = await createOrigin('a', (req, res) => {
    res.setHeader('cache-control', 'max-age=60');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ pad: 'x'.repeat(4096) }));
  });
  const f = await startFulcrum({
    workers: 1,
    upstreams: { app: { servers: [{ url: a.url }] } },
    routes: [{ host: '*', pathPrefix: '/', upstream: 'app', cache: true }],
    access: { deny: ['127.0.0.2'] },
  });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(`${f.url}/c`, { headers: { 'accept-encoding': 'gzip' } })).status, 200);
    assert.equal((await request(`${f.url}/${'x'.repeat(9000)}`)).status, 414);
    let text = '';
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      text = (await request(`${f.adminUrl}/metrics`)).text;
      if (/fulcrum_rejections_total\{reason="size"\} 1/.test(text) && /fulcrum_cache_requests_total\{result="hit"\} [1-9]/.test(text)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, new RegExp(`fulcrum_upstream_server_up\\{upstream="app",server="127\\.0\\.0\\.1_${a.port}"\\} 1`));
    assert.match(text, /fulcrum_cache_requests_total\{result="hit"\} [1-9]/);
    assert.match(text, /fulcrum_cache_requests_total\{result="miss"\} 1/);
    assert.match(text, /fulcrum_compression_tasks_total\{where="pool"\} \d+/);
    assert.match(text, /fulcrum_rejections_total\{reason="size"\} 1/);
  } finally {
    await f.stop();
    await a.close();
  }
});
