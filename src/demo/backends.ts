/**
 * Demo backends: small node:http servers on loopback that say who they are. Run as a child
 * process by `fulcrum demo`; reports the ports it bound over IPC (or stdout when run alone).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startDemoBackends(n: number): Promise<{ ports: number[]; close(): void }> {
  const servers = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const name = `backend-${i + 1}`;
      const s = http.createServer((req, res) => {
        if (req.url === '/healthz') {
          res.end('ok\n');
          return;
        }
        let bytes = 0;
        req.on('data', (c: Buffer) => (bytes += c.length));
        req.on('end', () => {
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          res.setHeader('X-Backend', name);
          res.end(
            `hello from ${name}: ${req.method} ${req.url} (host ${req.headers.host}, x-forwarded-for ${req.headers['x-forwarded-for']}, ${bytes} body bytes)\n`,
          );
        });
      });
      return new Promise<http.Server>((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
    }),
  );
  return {
    ports: servers.map((s) => (s.address() as AddressInfo).port),
    close: () => {
      for (const s of servers) s.close();
    },
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!) && process.env.FULCRUM_DEMO_BACKENDS) {
  const { ports } = await startDemoBackends(Number(process.env.FULCRUM_DEMO_BACKENDS));
  if (process.send) process.send({ ports });
  else process.stdout.write(JSON.stringify({ ports }) + '\n');
  process.on('disconnect', () => process.exit(0));
}
