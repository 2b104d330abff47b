/**
 * The defences both HTTP/2 implementations (node:http2 in h2-session.ts, fulcrum's own frame
 * layer in conn.ts) keep per connection beyond the protocol's own limits, as token buckets:
 * - rapid reset (CVE-2023-44487): streams the client cancels before their response is complete
 *   take a token each from http2.resetBurst, refilled at http2.resetRatePerSecond;
 * - PING and SETTINGS floods: each such frame takes a token from http2.controlFrameBurst,
 *   refilled at controlFrameRatePerSecond.
 * Out of tokens, the connection gets GOAWAY ENHANCE_YOUR_CALM and is closed; each such close
 * counts in fulcrum_http2_connections_closed_total{reason} (one counter for both).
 */
import { counter } from '../obs/metrics.js';

const closes = counter('fulcrum_http2_connections_closed_total', 'HTTP/2 client connections closed by a defence (GOAWAY ENHANCE_YOUR_CALM), by reason.', [
  'reason',
]);
export const rapidResets = closes.labels('rapid-reset');
export const controlFloods = closes.labels('control-flood');

/** TokenBucket: `burst` tokens, refilled at `perSecond`; take() false once empty. */
export class TokenBucket {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const t = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) * this.perSecond) / 1000);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
