/**
 * Rate-limit buckets shared by several hosts through Redis (sharedState.redis): one client's
 * budget is one budget across hosts.
 *
 * The primary's RateLimitTable keeps serving its workers as without Redis. Every
 * REPORT_INTERVAL_MS the requests this host admitted per bucket are debited in Redis by an atomic
 * Lua token bucket (a hash <prefix>rl:<bucket key> of tokens and time, refilled on Redis's own
 * clock, expiring once it would be full again); the tokens left replace the local bucket's and are
 * published on <prefix>ratelimit, so the other hosts' workers spend from the same budget. While
 * Redis is down the local buckets limit alone (each host then allows the full budget); when it
 * returns the next debit reads the shared bucket again.
 *
 * Like the in-host sharing between workers, hosts learn each other's spending within about two
 * report intervals (~200-300 ms): a client that bursts at several hosts at once can overshoot by
 * what those hosts admit in that window.
 */
import { REPORT_INTERVAL_MS } from '../ipc.js';
import type { RateLimitTable } from './rate-limit-table.js';
import type { SharedState } from './shared-state.js';

/** KEYS[1] bucket; ARGV: admitted, rate per second, burst. Returns the tokens left (as a string: Lua numbers are truncated to integers otherwise). */
const DEBIT = `
local n = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + rate * math.max(0, now - at) / 1000)
tokens = math.max(-burst, tokens - n)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(tokens)
`;

export function shareRateLimits(shared: SharedState, table: RateLimitTable): { close(): void } {
  let debits = new Map<string, [n: number, rate: number, burst: number]>();
  shared.cmd.defineCommand('fulcrumDebit', { numberOfKeys: 1, lua: DEBIT });
  const debit = (shared.cmd as unknown as { fulcrumDebit(k: string, n: number, rate: number, burst: number): Promise<string> }).fulcrumDebit.bind(shared.cmd);

  table.onDebit = (k, n, rate, burst) => {
    if (!shared.connected) return;
    const d = debits.get(k);
    if (d) d[0] += n;
    else debits.set(k, [n, rate, burst]);
  };
  shared.onMessage('ratelimit', (payload) => {
    for (const [k, tokens] of payload as [string, number][]) table.setTokens(k, tokens - (debits.get(k)?.[0] ?? 0));
  });

  const flush = (): void => {
    if (debits.size === 0 || !shared.connected) return;
    const batch = debits;
    debits = new Map();
    void Promise.all(
      [...batch].map(([k, [n, rate, burst]]) =>
        debit(shared.prefix + 'rl:' + k, n, rate, burst).then(
          (left) => [k, Number(left)] as [string, number],
          (err: Error) => {
            shared.failed(err);
            return null;
          },
        ),
      ),
    ).then((results) => {
      const out: [string, number][] = [];
      for (const r of results) {
        if (r === null || !Number.isFinite(r[1])) continue;
        out.push(r);
        // what this host admitted since the debit was sent is not in Redis's answer yet
        table.setTokens(r[0], r[1] - (debits.get(r[0])?.[0] ?? 0));
      }
      if (out.length) shared.publish('ratelimit', out);
    });
  };
  const timer = setInterval(flush, REPORT_INTERVAL_MS);
  timer.unref();
  return {
    close() {
      clearInterval(timer);
      table.onDebit = null;
    },
  };
}
