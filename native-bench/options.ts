/** native-bench's command line: targets, workloads and the options (a module of its own so tests can check it). */
import path from 'node:path';
import { intArg, parseOptions } from '../scripts/bench/args.js';
import { selectWorkloads, WORKLOADS, type Workload } from '../scripts/bench/workloads.js';
import { H2_SOAK_WORKLOADS, H2_WORKLOADS } from './h2.js';

/** the workloads native-bench can run on every target (the others use fulcrum-only features), and HTTP/2 (fulcrum and nginx) */
export const NATIVE_WORKLOADS = [...WORKLOADS.filter((w) => w.native !== false), ...H2_WORKLOADS];

export const HELP = `usage: npm run bench:native -- [options]

  --duration S       seconds per measured run (default 5)
  --warmup S         seconds of unmeasured load before each run (default 1; h2-*: a request
                     count that gives the rate, then S - 1 seconds more at that rate)
  --rounds N         alternations (default 3, at least 1)
  --workloads LIST   comma-separated (default all): ${NATIVE_WORKLOADS.map((w) => w.name).join(', ')}
                     (h2-*: HTTP/2 with h2load over TLS, on fulcrum and nginx only); opt-in:
                     ${H2_SOAK_WORKLOADS.map((w) => w.name).join(', ')} (many connections × streams,
                     for the memory table: peak RSS, per connection, and settled after the load)
  --targets LIST     any of direct,fulcrum,fulcrum-uws,nginx,haproxy,http-proxy,fastify-proxy
                     (default all; fulcrum-uws: this checkout with listen.engine "uws"),
                     and uws-floor (opt-in: a bare uWS + node:net proxy, the floor of
                     fulcrum's architecture; GET and Content-Length POST only: leave
                     ws-echo out of --workloads when it runs), and net-floor (opt-in: the
                     same relay behind fulcrum's own engine, src/worker/engine/), and
                     h2-floor (opt-in, h2-* workloads only: a bare node:http2 server and
                     the same relay, the floor of any HTTP/2 front built on node:http2),
                     and h2own-floor (opt-in, h2-* workloads only: node:tls with an HTTP/2
                     frame layer and HPACK of our own, and the same relay)
  --workers N        workers of every proxy (default 1; with 1, proxies are pinned to CPU 0);
                     the Node peers run N node:cluster workers
  --load-gen NAME    wrk or autocannon (default: wrk when available; ws-echo has its own driver)
  --no-install       never run apt-get; skip what is missing
  --upstream-idle N  idle upstream connections kept per worker by nginx (keepalive) and fulcrum
                     (keepAlive.maxIdle) (default 1024: no reconnects at 1,000 clients)
  --h2-implementation NAME
                     fulcrum's http2.implementation on its TLS listener: fulcrum (its own
                     frame layer, src/worker/h2/) or node (node:http2); default: the
                     checkout's own default; this checkout's only (see --baseline-h2-implementation)
  --baseline DIR     also run the fulcrum of another built checkout (A/B of a change), as "baseline"
  --baseline-h2-implementation NAME
                     the baseline's http2.implementation (default: not named, its own default;
                     a checkout from before the key refuses a config that names it)
  --out DIR          where the JSON and Markdown results go (default bench-results)
`;

export type Target =
  | 'direct'
  | 'fulcrum'
  | 'fulcrum-uws'
  | 'nginx'
  | 'haproxy'
  | 'http-proxy'
  | 'fastify-proxy'
  | 'uws-floor'
  | 'net-floor'
  | 'h2-floor'
  | 'h2own-floor'
  | 'baseline';
export const ALL_TARGETS: Target[] = ['direct', 'fulcrum', 'fulcrum-uws', 'nginx', 'haproxy', 'http-proxy', 'fastify-proxy'];
/** targets run only when named in --targets */
export const OPT_IN_TARGETS: Target[] = ['uws-floor', 'net-floor', 'h2-floor', 'h2own-floor'];
/** the Node peers: a script each under native-bench/peers/ */
export const NODE_PEERS = ['http-proxy', 'fastify-proxy', 'uws-floor', 'net-floor', 'h2-floor', 'h2own-floor'] as const;
export type NodePeer = (typeof NODE_PEERS)[number];

export interface Options {
  durationS: number;
  warmupS: number;
  rounds: number;
  workloads: Workload[];
  targets: Target[];
  workers: number;
  loadGen: 'wrk' | 'autocannon' | null;
  install: boolean;
  out: string;
  baseline: string | null;
  upstreamIdle: number;
  h2Implementation: 'node' | 'fulcrum' | null;
  baselineH2Implementation: 'node' | 'fulcrum' | null;
}

/** parse reads the command line; null after printing the help; throws on a bad option. */
export function parse(argv: string[]): Options | null {
  const o: Options = {
    durationS: 5,
    warmupS: 1,
    rounds: 3,
    workloads: NATIVE_WORKLOADS,
    targets: ALL_TARGETS,
    workers: 1,
    loadGen: null,
    install: true,
    out: 'bench-results',
    baseline: null,
    upstreamIdle: 1024,
    h2Implementation: null,
    baselineH2Implementation: null,
  };
  const ok = parseOptions(
    argv,
    {
      '--duration': (v) => (o.durationS = intArg('--duration', v(), 1)),
      '--warmup': (v) => (o.warmupS = intArg('--warmup', v(), 0)),
      '--rounds': (v) => (o.rounds = intArg('--rounds', v(), 1)),
      '--workloads': (v) => (o.workloads = selectWorkloads(v(), [...WORKLOADS, ...H2_WORKLOADS, ...H2_SOAK_WORKLOADS])),
      '--targets': (v) => {
        const t = v()
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
        const known = [...ALL_TARGETS, ...OPT_IN_TARGETS];
        for (const x of t) if (!known.includes(x as Target)) throw new Error(`unknown target ${JSON.stringify(x)}; known: ${known.join(', ')}`);
        o.targets = t as Target[];
      },
      '--workers': (v) => (o.workers = intArg('--workers', v(), 1)),
      '--load-gen': (v) => {
        const g = v();
        if (g !== 'wrk' && g !== 'autocannon') throw new Error(`--load-gen is wrk or autocannon, got ${JSON.stringify(g)}`);
        o.loadGen = g;
      },
      '--upstream-idle': (v) => (o.upstreamIdle = intArg('--upstream-idle', v(), 0)),
      '--h2-implementation': (v) => {
        const i = v();
        if (i !== 'node' && i !== 'fulcrum') throw new Error(`--h2-implementation is node or fulcrum, got ${JSON.stringify(i)}`);
        o.h2Implementation = i;
      },
      '--baseline-h2-implementation': (v) => {
        const i = v();
        if (i !== 'node' && i !== 'fulcrum') throw new Error(`--baseline-h2-implementation is node or fulcrum, got ${JSON.stringify(i)}`);
        o.baselineH2Implementation = i;
      },
      '--baseline': (v) => (o.baseline = path.resolve(v())),
      '--no-install': () => (o.install = false),
      '--out': (v) => (o.out = v()),
    },
    HELP,
  );
  return ok ? o : null;
}
