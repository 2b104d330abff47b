/**
 * The `fulcrum` command line: start, check, explain, reload, health, demo, bench.
 *
 * Every command parses its flags with node:util parseArgs (strict): `--help`/`-h` prints that
 * command's usage and exits 0, an unknown flag or a bad value prints the error and the usage on
 * stderr and exits 2 (as getopt-based tools do), so a typo like `start --wacth` never runs.
 */
import cluster from 'node:cluster';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { adminCall, adminTarget } from './cli-admin.js';
import { VERSION } from './version.js';

/** MIN_NODE: the lowest Node.js fulcrum runs on (package.json "engines") */
const MIN_NODE = [20, 18, 1];

type Values = Record<string, string | boolean | string[] | undefined>;

interface Command {
  usage: string;
  options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean; multiple?: boolean }>;
  /** how many positional arguments the command takes (default none) */
  positionals?: number;
  run(values: Values, positionals: string[]): Promise<void> | void;
}

const CONFIG_OPT = { config: { type: 'string', short: 'c', default: 'config.json' } } as const;
const ADMIN_OPTS = { ...CONFIG_OPT, admin: { type: 'string' } } as const;

const COMMANDS: Record<string, Command> = {
  start: {
    usage: `usage: fulcrum start [-c config.json] [--watch]

Runs fulcrum in the foreground. SIGTERM/SIGINT: stop accepting, finish in-flight requests (up to
timeouts.drainMs), exit 0. SIGHUP: reload the config. SIGUSR1: reopen access log files.

  -c, --config FILE   the config file (default config.json)
      --watch         also reload when the config file's content changes
  -h, --help          this help
`,
    options: { ...CONFIG_OPT, watch: { type: 'boolean', default: false } },
    run: (v) => start(String(v.config), v.watch === true),
  },
  check: {
    usage: `usage: fulcrum check [-c config.json]

Validates a config and prints what would run (listeners, routes with their names, upstreams).
Exit 0 when valid, 1 listing every error by JSON path.

  -c, --config FILE   the config file (default config.json)
  -h, --help          this help
`,
    options: { ...CONFIG_OPT },
    run: (v) => check(String(v.config)),
  },
  explain: {
    usage: `usage: fulcrum explain [-c config.json] [--live [--admin URL]] [--json] METHOD URL
                       [-H 'Name: value' ...] [--client ADDRESS]

Says what fulcrum would do with one request, and why, one line per decision: the path used for
routing, access lists, limits, the route (and the routes that lost), the rate limit, the cache,
compression, the server pick (the winner marked >) and the head sent upstream, byte for byte.
From the config file alone (nothing needs to run: servers up and idle, no sessions, full rate
buckets), or with --live from the running fulcrum (GET /explain: health, drain, slow start,
sessions, in-flight counts, rate-limit tokens, cache entries as they are). Nothing changes.

  METHOD URL            e.g. GET http://shop.example.com/api/users (the path exactly as a client
                        would send it; https:// as if it came over TLS)
  -H, --header 'N: v'   a request header; repeat for more (Host comes from the URL unless given)
      --client ADDRESS  the client's address (default 127.0.0.1)
      --json            the answer as JSON (the document GET /explain returns)
  -c, --config FILE     the config file (default config.json); with --live, where the admin
                        listener and token are read from
      --live            ask the running fulcrum instead of reading the config
      --admin URL       the admin listener for --live, e.g. http://127.0.0.1:9090
  -h, --help            this help

Exit 0 when explained (whatever fulcrum would do with the request), 1 when it cannot be (an
invalid config, no answer from --live), 2 for a usage error.
`,
    options: {
      ...ADMIN_OPTS,
      live: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      header: { type: 'string', short: 'H', multiple: true },
      client: { type: 'string' },
    },
    positionals: 2,
    run: async (v, pos) => {
      if (pos.length !== 2) usageError('explain', pos.length < 2 ? 'give METHOD and URL' : `unexpected argument ${JSON.stringify(pos[2])}`);
      if (v.admin !== undefined && v.live !== true) usageError('explain', '--admin needs --live');
      const { runExplain } = await import('./cli-explain.js');
      return runExplain({
        config: String(v.config),
        live: v.live === true,
        admin: v.admin as string | undefined,
        json: v.json === true,
        input: { method: pos[0]!, url: pos[1]!, headers: (v.header as string[] | undefined) ?? [], client: v.client as string | undefined },
      });
    },
  },
  reload: {
    usage: `usage: fulcrum reload [-c config.json] [--admin URL]

Asks a running fulcrum to reload its config (POST /reload on the admin listener) and waits for
the answer. Exit 0 when reloaded; 1 when the reload was refused (the errors are printed; the
running config stays) or the admin listener did not answer. For systemd's ExecReload.

  -c, --config FILE   where the admin listener and token are read from (default config.json)
      --admin URL     the admin listener, e.g. http://127.0.0.1:9090 (default: from the config)
  -h, --help          this help

The token: admin.token of the config, or FULCRUM_ADMIN_TOKEN.
`,
    options: { ...ADMIN_OPTS },
    run: (v) => reload(String(v.config), v.admin as string | undefined),
  },
  health: {
    usage: `usage: fulcrum health [-c config.json] [--admin URL]

Exit 0 when the fulcrum of this config answers on its admin listener (GET /status) with every
worker running; 1 otherwise, saying why. For container HEALTHCHECKs and monitoring scripts.

  -c, --config FILE   where the admin listener and token are read from (default config.json)
      --admin URL     the admin listener, e.g. http://127.0.0.1:9090 (default: from the config)
  -h, --help          this help
`,
    options: { ...ADMIN_OPTS },
    run: (v) => health(String(v.config), v.admin as string | undefined),
  },
  demo: {
    usage: `usage: fulcrum demo [--port 8080] [--admin-port 9090] [--workers 1]

Starts three demo backends on loopback and fulcrum in front of them (round-robin), for a first
look. It leaves nothing on disk (its config is removed once read). Ctrl-C stops everything.

      --port N        the proxy's port on 127.0.0.1 (default 8080)
      --admin-port N  the admin listener's port (dashboard, /metrics; default 9090)
      --workers N     worker processes, or "auto" (default 1, so consecutive requests rotate)
  -h, --help          this help
`,
    options: { port: { type: 'string', default: '8080' }, 'admin-port': { type: 'string', default: '9090' }, workers: { type: 'string', default: '1' } },
    run: async (v) => {
      const port = portArg('--port', String(v.port));
      const adminPort = portArg('--admin-port', String(v['admin-port']));
      if (port === adminPort) usageError('demo', `--port and --admin-port must differ (both ${port})`);
      const w = String(v.workers);
      const workers = w === 'auto' ? 'auto' : Number(w);
      if (workers !== 'auto' && !(Number.isInteger(workers) && workers >= 1 && workers <= 1024))
        usageError('demo', `--workers needs "auto" or an integer 1-1024, got ${JSON.stringify(w)}`);
      const { runDemo } = await import('./demo/demo.js');
      return runDemo({ port, adminPort, workers });
    },
  },
};

const USAGE = `fulcrum ${VERSION}: reverse proxy and load balancer

usage:
  fulcrum start  [-c config.json] [--watch]   run in the foreground
  fulcrum check  [-c config.json]             validate a config and print what would run
  fulcrum explain [-c config.json] [--live] METHOD URL [-H 'Name: value' ...] [--client ADDRESS]
                                              where a request would go, and why
  fulcrum reload [-c config.json] [--admin URL]
                                              reload a running fulcrum; exit 1 if it refuses
  fulcrum health [-c config.json] [--admin URL]
                                              exit 0 when a running fulcrum is healthy
  fulcrum demo   [--port 8080] [--admin-port 9090]
                                              demo backends on loopback with fulcrum in front
  fulcrum bench  [options]                    benchmark: direct to a backend vs through fulcrum
  fulcrum --version

"fulcrum <command> --help" describes each command.
`;

export async function main(argv: string[]): Promise<void> {
  checkNodeVersion();
  const [cmd = 'help', ...rest] = argv;
  if (cmd === 'help' || cmd === '-h' || cmd === '--help') {
    const sub = rest[0] && Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(sub ? sub.usage : USAGE);
    return;
  }
  if (cmd === '-v' || cmd === '--version' || cmd === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (cmd === 'bench') return bench(rest);
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!command) {
    process.stderr.write(`fulcrum: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
    process.exit(2);
  }
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: (command.positionals ?? 0) > 0,
    }));
  } catch (err) {
    return usageError(cmd, (err as Error).message);
  }
  if (values.help) {
    process.stdout.write(command.usage);
    return;
  }
  return command.run(values, positionals);
}

function usageError(cmd: string, msg: string): never {
  process.stderr.write(`fulcrum ${cmd}: ${msg}\n\n${COMMANDS[cmd]?.usage ?? USAGE}`);
  process.exit(2);
}

function portArg(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) usageError('demo', `${name} needs a port number 1-65535, got ${JSON.stringify(v)}`);
  return n;
}

function checkNodeVersion(): void {
  const have = process.versions.node.split('.').map(Number);
  for (let i = 0; i < MIN_NODE.length; i++) {
    if (have[i]! > MIN_NODE[i]!) return;
    if (have[i]! < MIN_NODE[i]!) {
      process.stderr.write(
        `fulcrum: needs Node.js >= ${MIN_NODE.join('.')}; this is ${process.version} (${process.execPath}). ` +
          'Install Node 20 LTS (README "Running in production" says how, for systemd and containers).\n',
      );
      process.exit(1);
    }
  }
}

// start and check import the config and primary modules when run, so that --help, flag errors,
// reload and health answer without loading them
async function start(file: string, watch: boolean): Promise<void> {
  if (!cluster.isPrimary) return;
  const { ConfigError } = await import('./config/load.js');
  const { runPrimary } = await import('./primary/primary.js');
  try {
    await runPrimary(path.resolve(file), false, { watch });
  } catch (err) {
    process.stderr.write(err instanceof ConfigError ? `fulcrum: invalid config ${err.message}\n` : `fulcrum: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

async function check(file: string): Promise<void> {
  const { ConfigError, readConfigFile } = await import('./config/load.js');
  const { banner } = await import('./primary/primary.js');
  try {
    const cfg = readConfigFile(path.resolve(file));
    process.stdout.write(`${file}: valid\n` + banner(cfg, 'not loaded by check').split('\n').slice(1).join('\n'));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fulcrum: invalid config ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function reload(file: string, admin: string | undefined): Promise<void> {
  const target = adminTarget(file, admin);
  const r = await adminCall(target, 'POST', '/reload', 60_000);
  if (r.status >= 200 && r.status < 300) {
    process.stdout.write(`fulcrum: reloaded (${target.url})\n`);
    return;
  }
  if (r.status === 0) {
    process.stderr.write(`fulcrum: reload failed: ${r.error}\n`);
    process.exit(1);
  }
  const body = r.json as { message?: string; errors?: { path: string; value: string; expected: string }[] } | undefined;
  const lines = (body?.errors ?? []).map((e) => `  ${e.path}: got ${e.value}; expected ${e.expected}`);
  process.stderr.write(
    `fulcrum: reload refused by ${target.url} (HTTP ${r.status}): ${body?.message ?? r.text.trim()}\n${lines.join('\n')}${lines.length ? '\n' : ''}`,
  );
  process.exit(1);
}

async function health(file: string, admin: string | undefined): Promise<void> {
  const target = adminTarget(file, admin);
  const r = await adminCall(target, 'GET', '/status', 5_000);
  const st = r.json as { workers?: { index: number; pid?: number | null }[] } | undefined;
  const down = (st?.workers ?? []).filter((w) => w.pid == null).map((w) => w.index);
  if (r.status === 200 && st?.workers && down.length === 0) {
    process.stdout.write(`fulcrum: healthy (${st.workers.length} worker${st.workers.length === 1 ? '' : 's'} running, ${target.url})\n`);
    return;
  }
  const why = r.status === 200 ? `worker${down.length === 1 ? '' : 's'} ${down.join(', ')} not running` : r.status ? `HTTP ${r.status}` : r.error;
  process.stderr.write(`fulcrum: unhealthy (${target.url}): ${why}\n`);
  process.exit(1);
}

async function bench(args: string[]): Promise<void> {
  let mod: { main(args: string[]): Promise<void> };
  try {
    mod = await import('../scripts/bench.js');
  } catch (err) {
    // an image or install without the dev dependencies (autocannon drives the load)
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write(`fulcrum bench: needs the dev dependencies (run \`npm ci\` in a checkout): ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
  return mod.main(args);
}
