/** Raw-socket HTTP for tests that need exact bytes on the wire. */
import net from 'node:net';

/**
 * rawExchange sends `data` to 127.0.0.1:port and collects what comes back until the server
 * closes, `until` matches, or timeoutMs passes.
 */
export function rawExchange(
  port: number,
  data: string | Buffer,
  opts: { timeoutMs?: number; until?: (got: Buffer) => boolean } = {},
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(data));
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 3000);
    sock.on('data', (d) => {
      chunks.push(d);
      if (opts.until?.(Buffer.concat(chunks))) finish(false);
    });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
  });
}

/** statusOf returns the status code of the first response in a raw reply (0 if none). */
export function statusOf(raw: Buffer): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw.toString('latin1'));
  return m ? Number(m[1]) : 0;
}
