/**
 * The WebSocket echo load driver (the `run` hook of the ws-echo workload, and scripts/ws-bench.ts):
 * `workload.connections` WebSockets to `url + workload.path`, each in a closed loop (it sends its
 * next `workload.messageBytes`-byte binary message when the echo of the previous one arrives),
 * every round trip's latency recorded in microseconds. A LoadResult counts echoed messages as
 * requests (so "req/s" is messages per second); errors are connections that failed to open or
 * closed during the run, and echoes of the wrong size.
 */
import WebSocket from 'ws';
import { LatencyRecorder, type LoadOptions, type LoadResult } from './load.js';
import type { Workload } from './workloads.js';

const wsUrl = (url: string, w: Workload) => url.replace(/^http/, 'ws') + w.path;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

export async function runWsEcho(o: LoadOptions): Promise<LoadResult> {
  const w = o.workload;
  const size = w.messageBytes ?? 64;
  const payload = Buffer.alloc(size, 'y');
  const lat = new LatencyRecorder();
  const opened = await Promise.allSettled(Array.from({ length: w.connections }, () => open(wsUrl(o.url, w))));
  const sockets = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  let errors = opened.length - sockets.length;
  let messages = 0;
  let running = true;
  const t0 = performance.now();
  for (const ws of sockets) {
    let sentAt = 0;
    ws.on('message', (data: Buffer) => {
      if (!running) return;
      const now = performance.now();
      if (data.length === size) {
        messages++;
        lat.record((now - sentAt) * 1000);
      } else errors++;
      sentAt = now;
      ws.send(payload);
    });
    ws.on('error', () => {
      if (running) errors++;
    });
    ws.on('close', () => {
      if (running) errors++;
    });
    sentAt = performance.now();
    ws.send(payload);
  }
  let ticks = 0;
  const tick = setInterval(() => o.onTick?.(messages, ++ticks), 1000);
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  running = false;
  clearInterval(tick);
  const durationS = (performance.now() - t0) / 1000;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(() => ws.terminate(), 2000);
          ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          ws.close(1000);
        }),
    ),
  );
  return { requests: messages, rps: messages / durationS, errors, throughput: (messages * size) / durationS, durationS, ...lat.summary() };
}

/** checkWsEcho opens one WebSocket, sends one message and checks its echo; an error message, or null when right. */
export async function checkWsEcho(url: string, w: Workload): Promise<string | null> {
  const size = w.messageBytes ?? 64;
  let ws: WebSocket;
  try {
    ws = await open(wsUrl(url, w));
  } catch (err) {
    return `WebSocket upgrade of ${w.path} failed: ${(err as Error).message}`;
  }
  try {
    return await new Promise<string | null>((resolve) => {
      const t = setTimeout(() => resolve('no echo within 5 s'), 5000);
      ws.once('message', (data: Buffer) => {
        clearTimeout(t);
        resolve(data.length === size ? null : `echo of ${data.length} bytes, expected ${size}`);
      });
      ws.once('close', (code) => resolve(`closed with ${code} before the echo`));
      ws.send(Buffer.alloc(size, 'y'));
    });
  } finally {
    ws.terminate();
  }
}
