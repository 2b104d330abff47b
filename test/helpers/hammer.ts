/**
 * Load for reload tests: keep-alive clients requesting in a loop until stop(), bounded in count
 * and time, recording every failure and which origin answered each route ("web:a", "api:b": the
 * first path segment and the echo origin's label).
 */
import http from 'node:http';
import type net from 'node:net';
import https from 'node:https';

export interface Hammer {
  /** "<first path segment>:<origin label>" -> responses */
  seen: Map<string, number>;
  failures: string[];
  ok(): number;
  staleRetries(): number;
  stop(): Promise<void>;
}

export interface HammerOptions {
  /**
   * also resend a GET once when a new connection is reset before any response: what a client
   * must do to lose nothing when a worker process dies with requests on it (test/reload-refused's
   * crash); by default only a reused connection's reset is resent (the keep-alive race)
   */
  retryResets?: boolean;
}

/** hammer runs `clients` keep-alive clients on `url` (http: or https:, any certificate) until stop(). */
export function hammer(url: string, clients: number, opts: HammerOptions = {}): Hammer {
  const secure = url.startsWith('https:');
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: clients, rejectUnauthorized: false })
    : new http.Agent({ keepAlive: true, maxSockets: clients });
  const get = secure ? https.get : http.get;
  let running = true;
  const seen = new Map<string, number>();
  const failures: string[] = [];
  let ok = 0;
  const deadline = Date.now() + 40_000;
  let staleRetries = 0;
  const one = (path: string, attempt = 1): Promise<void> =>
    new Promise<void>((resolve) => {
      // the request's place on its socket (node's reusedSocket misses a socket handed over from
      // the agent's queue, so count here): more than 1 means a kept-alive connection was reused
      let nth = 0;
      const req = get(url + path, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) {
            ok++;
            const who = `${path.split('/')[1]}:${(JSON.parse(body) as { origin: string }).origin}`;
            seen.set(who, (seen.get(who) ?? 0) + 1);
          } else failures.push(`${path}: ${res.statusCode} ${body.slice(0, 100)}`);
          resolve();
        });
        res.on('error', (e) => {
          failures.push(`${path}: response error ${e.message}`);
          resolve();
        });
      });
      req.on('socket', (so: net.Socket & { served?: number }) => (nth = so.served = (so.served ?? 0) + 1));
      req.on('error', (e) => {
        const code = (e as NodeJS.ErrnoException).code;
        // A keep-alive connection the server closed (an old worker exiting) while this request was
        // being sent: the race every HTTP/1.1 client handles by resending an idempotent request
        // on a new connection (node's documented req.reusedSocket pattern; browsers, undici). The
        // agent may hand the retry another kept-alive connection closed in the same instant (a
        // draining worker closes its idle ones at once), so up to 3 times.
        if (attempt < 4 && (nth > 1 || req.reusedSocket || (opts.retryResets === true && attempt === 1)) && (code === 'ECONNRESET' || code === 'EPIPE')) {
          staleRetries++;
          resolve(one(path, attempt + 1));
          return;
        }
        failures.push(`${path}: ${code ?? e.message}`);
        resolve();
      });
      req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    });
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; running && i < 50_000 && Date.now() < deadline; i++) await one(i % 2 ? `/api/${c}-${i}` : `/web/${c}-${i}`);
  });
  return {
    seen,
    failures,
    ok: () => ok,
    staleRetries: () => staleRetries,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}
