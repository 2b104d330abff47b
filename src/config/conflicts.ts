/**
 * Cross-field rules of a config that the schema cannot express, found before anything listens:
 * two listeners of fulcrum's on one address and port (the second would fail at start, or with
 * SO_REUSEPORT silently share the port), a server that is fulcrum itself (every request would
 * loop until the connection limits cut it), ranges whose bounds are swapped, and route names
 * (filled in here: `host + pathPrefix` unless given; unique, since logs and metrics key on them).
 *
 * Each rule reads only values of the right type, so that it runs beside the schema's own errors
 * and one `fulcrum check` lists everything.
 */
import type { Config } from './schema.js';
import type { ConfigIssue } from './load.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** checkConflicts appends the conflicts of `cfg` (defaults filled) to issues, and names its routes. */
export function checkConflicts(cfg: Config, issues: ConfigIssue[]): void {
  const c = cfg as unknown as Obj;
  const listen = isObj(c.listen) ? c.listen : {};
  const admin = isObj(c.admin) ? c.admin : {};
  const tls = isObj(c.tls) ? c.tls : undefined;
  const listenHost = str(listen.host) ?? '0.0.0.0';
  const adminHost = str(admin.host) ?? '127.0.0.1';
  // fulcrum's own listeners: [what, host, port]
  const own: [string, string, number | undefined][] = [
    ['proxy', listenHost, num(listen.port)],
    ['TLS', listenHost, num(tls?.port)],
    ['admin', adminHost, num(admin.port)],
  ];
  const adminPort = num(admin.port);
  for (const [what, host, port] of own.slice(0, 2)) {
    if (port !== undefined && port === adminPort && hostsOverlap(host, adminHost))
      issues.push({
        path: '$.admin.port',
        value: String(adminPort),
        expected: `a port other than ${what === 'TLS' ? 'tls.port' : 'listen.port'} (${port}), since admin.host ${JSON.stringify(adminHost)} and listen.host ${JSON.stringify(host)} overlap`,
      });
  }

  const ups = isObj(c.upstreams) ? c.upstreams : {};
  for (const [name, up] of Object.entries(ups)) {
    if (!isObj(up)) continue;
    (Array.isArray(up.servers) ? up.servers : []).forEach((s, i) => {
      const url = isObj(s) ? str(s.url) : undefined;
      const m = url ? /^http:\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?\/?$/i.exec(url) : null;
      if (!m) return;
      const host = m[1]!.replace(/^\[|\]$/g, '').toLowerCase();
      const port = m[2] === undefined ? 80 : Number(m[2]);
      const loop = own.find(([, ownHost, ownPort]) => ownPort === port && reaches(host, ownHost));
      if (loop) {
        const [what, ownHost, ownPort] = loop;
        issues.push({
          path: `$.upstreams.${name}.servers[${i}].url`,
          value: JSON.stringify(url),
          expected: `a server other than fulcrum's own ${what} listener (${isV6(ownHost) && !ownHost.startsWith('[') ? `[${ownHost}]` : ownHost}:${ownPort}): requests would loop back into fulcrum`,
        });
      }
    });
    const ph = isObj(up.passiveHealth) ? up.passiveHealth : {};
    const eject = num(ph.ejectMs);
    const maxEject = num(ph.maxEjectMs);
    if (eject !== undefined && maxEject !== undefined && eject > maxEject)
      issues.push({ path: `$.upstreams.${name}.passiveHealth.ejectMs`, value: String(eject), expected: `at most passiveHealth.maxEjectMs (${maxEject})` });
  }

  const minMax = (o: unknown, at: string) => {
    if (!isObj(o)) return;
    const lo = num(o.minBytes);
    const hi = num(o.maxBytes);
    if (lo !== undefined && hi !== undefined && lo > hi)
      issues.push({ path: `${at}.minBytes`, value: String(lo), expected: `at most ${at.slice(2)}.maxBytes (${hi})` });
  };
  minMax(c.compression, '$.compression');

  const routes = Array.isArray(c.routes) ? c.routes : [];
  const names = new Map<string, number>();
  routes.forEach((r, i) => {
    if (!isObj(r)) return;
    minMax(r.compression, `$.routes[${i}].compression`);
    if (r.name === undefined && typeof r.host === 'string' && typeof r.pathPrefix === 'string') r.name = r.host + r.pathPrefix;
    const n = str(r.name);
    if (n === undefined) return;
    const prev = names.get(n);
    if (prev !== undefined)
      issues.push({
        path: `$.routes[${i}].name`,
        value: JSON.stringify(n),
        expected: `a name not already used by routes[${prev}] (a route's name defaults to host + pathPrefix)`,
      });
    else names.set(n, i);
  });
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;
const unbracket = (h: string) => h.toLowerCase().replace(/^\[|\]$/g, '');
const isV6 = (h: string) => h.includes(':');

/**
 * hostsOverlap tells whether listeners on hosts a and b would take the same address: equal
 * hosts, "::" (dual-stack on Linux: every address), "0.0.0.0" with any IPv4 address or name, and
 * localhost with a loopback address.
 */
function hostsOverlap(a: string, b: string): boolean {
  const x = unbracket(a);
  const y = unbracket(b);
  if (x === y || x === '::' || y === '::') return true;
  if (x === '0.0.0.0') return !isV6(y);
  if (y === '0.0.0.0') return !isV6(x);
  return (x === 'localhost' && LOOPBACK.test(y)) || (y === 'localhost' && LOOPBACK.test(x));
}

/** reaches tells whether a connection to `host` (a server URL's) would arrive at a listener on `listenHost`. */
function reaches(host: string, listenHost: string): boolean {
  const h = unbracket(host);
  const l = unbracket(listenHost);
  if (l === '::') return LOOPBACK.test(h) || h === '::' || h === '0.0.0.0';
  if (l === '0.0.0.0') return (LOOPBACK.test(h) && h !== '::1') || h === '0.0.0.0';
  return h === l || (LOOPBACK.test(h) && LOOPBACK.test(l) && (h === 'localhost' || l === 'localhost'));
}
