/**
 * unresolvedServers lists, as config issues, the servers of a config whose host name does not
 * resolve now. A reload that names one is refused, as nginx refuses a reload with "host not found
 * in upstream": the workers connect through getaddrinfo on every new connection, so every request
 * to such a server would fail while the old config could still serve. Looked up with dns.lookup,
 * as those connections are (/etc/hosts, nsswitch, resolv.conf), all at once, each within
 * LOOKUP_TIMEOUT_MS. Upstreams with `discovery` are skipped: their names are DNS discovery's
 * (src/primary/dns-discovery.ts), which keeps a name's last addresses when it stops resolving.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ConfigIssue, LoadedConfig } from '../config/load.js';

const LOOKUP_TIMEOUT_MS = 5000;

export async function unresolvedServers(cfg: LoadedConfig): Promise<ConfigIssue[]> {
  const checks: Promise<ConfigIssue | null>[] = [];
  for (const [name, up] of Object.entries(cfg.raw.upstreams)) {
    if (up.discovery) continue;
    up.servers.forEach((s, i) => {
      const host = hostOf(s.url);
      if (host !== null) checks.push(resolves(host).then((err) => (err === null ? null : issue(`$.upstreams.${name}.servers[${i}].url`, s.url, host, err))));
    });
  }
  return (await Promise.all(checks)).filter((i): i is ConfigIssue => i !== null);
}

/** hostOf returns the host name of a server URL, or null for an IP literal. */
function hostOf(url: string): string | null {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return null; // validated before: not reached
  }
  return host.startsWith('[') || isIP(host) !== 0 ? null : host;
}

/** resolves returns null when the name has an address, else why not. */
function resolves(host: string): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${LOOKUP_TIMEOUT_MS} ms`), LOOKUP_TIMEOUT_MS);
  });
  const answer = lookup(host).then(
    () => null,
    (err: NodeJS.ErrnoException) => (err.code === 'ENOTFOUND' ? 'host not found' : (err.code ?? err.message)),
  );
  return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
}

function issue(path: string, url: string, host: string, why: string): ConfigIssue {
  return { path, value: JSON.stringify(url), expected: `a server whose host name resolves (${host}: ${why})` };
}
