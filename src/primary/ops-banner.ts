/** The operations lines of the start banner (and of `fulcrum check`). */
import type { LoadedConfig } from '../config/load.js';
import { maskUrl } from './redis-url.js';

/** bannerExtras are the operations lines of the start banner: dashboard, metrics, access log. */
export function bannerExtras(cfg: LoadedConfig): string[] {
  const { host, port, token } = cfg.raw.admin;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const { access, format } = cfg.raw.logging;
  return [
    `  dashboard  ${base}/${token ? '?token=<admin.token>' : ''}`,
    `  metrics    ${base}/metrics  (Prometheus)`,
    `  access log ${access === 'off' ? 'off' : `${access} (${format})`}`,
    ...(cfg.raw.sharedState ? [`  shared     ${maskUrl(cfg.raw.sharedState.redis.url)}  (sticky sessions, rate limits, cache purges)`] : []),
  ];
}
