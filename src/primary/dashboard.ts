/**
 * The live dashboard on the admin listener: GET / serves one self-contained page (no CDN, no
 * build step), GET /events streams the same JSON as GET /status once a second as Server-Sent
 * Events. The page passes the admin token as ?token= (a browser cannot send a header when it
 * opens the page or an EventSource: these two routes are the only ones that accept it so) and as
 * a bearer header, with Content-Type: application/json, on its drain/undrain calls.
 */
import type http from 'node:http';
import type { AdminServer } from './admin.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import { DURATION_BUCKETS } from './metrics-agg.js';

/** EVENT_INTERVAL_MS: how often the dashboard gets a fresh status */
const EVENT_INTERVAL_MS = 1000;

export interface Dashboard {
  close(): void;
}

export function registerDashboard(admin: AdminServer, status: () => unknown): Dashboard {
  const clients = new Set<http.ServerResponse>();
  let timer: NodeJS.Timeout | null = null;

  const push = () => {
    if (clients.size === 0) return;
    const frame = `data: ${JSON.stringify({ ...(status() as object), buckets: DURATION_BUCKETS, now: Date.now() })}\n\n`;
    for (const res of clients) res.write(frame);
  };

  admin.route('GET', '/', () => ({
    body: DASHBOARD_HTML,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
    },
  }));
  admin.route('GET', '/events', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    clients.add(res);
    req.raw.on('close', () => {
      clients.delete(res);
      if (clients.size === 0 && timer) {
        clearInterval(timer);
        timer = null;
      }
    });
    if (timer === null) {
      timer = setInterval(push, EVENT_INTERVAL_MS);
      timer.unref();
    }
    // the first frame at once, so the page fills without waiting a second
    res.write(`data: ${JSON.stringify({ ...(status() as object), buckets: DURATION_BUCKETS, now: Date.now() })}\n\n`);
    return undefined;
  });
  admin.acceptQueryToken('GET', '/');
  admin.acceptQueryToken('GET', '/events');

  return {
    close() {
      if (timer) clearInterval(timer);
      timer = null;
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
