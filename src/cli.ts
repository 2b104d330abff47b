/**
 * The `fulcrum` command line: start, check, demo, bench.
 */
import cluster from 'node:cluster';
import path from 'node:path';
import { ConfigError, readConfigFile } from './config/load.js';
import { banner, runPrimary } from './primary/primary.js';
import { VERSION } from './version.js';

const USAGE = `fulcrum ${VERSION}: reverse proxy and load balancer

usage:
  fulcrum start [-c config.json] [--watch]
                                   run in the foreground (SIGTERM/SIGINT drain and exit 0, SIGHUP reloads,
                                   SIGUSR1 reopens access log files; --watch reloads when the file changes)
  fulcrum check [-c config.json]   validate a config and print what would run; exit 1 on errors
  fulcrum demo  [--port 8080]      start three demo backends on loopback and fulcrum in front of them
  fulcrum bench [options]          benchmark: direct to a backend vs through fulcrum (see --help)
  fulcrum --version
`;

interface Args {
  cmd: string;
  config: string;
  rest: string[];
}

function parseArgs(argv: string[]): Args {
  const out: Args = { cmd: argv[0] ?? 'help', config: 'config.json', rest: [] };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') {
      const v = argv[++i];
      if (!v) fail(`${a} needs a file name`);
      out.config = v;
    } else if (a.startsWith('--config=')) out.config = a.slice(9);
    else out.rest.push(a);
  }
  return out;
}

function fail(msg: string): never {
  process.stderr.write(`fulcrum: ${msg}\n`);
  process.exit(2);
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  switch (args.cmd) {
    case 'start':
      return start(args.config, args.rest.includes('--watch'));
    case 'check':
      return check(args.config);
    case 'demo': {
      const { runDemo } = await import('./demo/demo.js');
      return runDemo(args.rest);
    }
    case 'bench': {
      const { main: bench } = await import('../scripts/bench.js');
      return bench(args.rest);
    }
    case '-v':
    case '--version':
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return;
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`fulcrum: unknown command ${JSON.stringify(args.cmd)}\n\n${USAGE}`);
      process.exit(2);
  }
}

async function start(file: string, watch: boolean): Promise<void> {
  if (!cluster.isPrimary) return;
  try {
    await runPrimary(path.resolve(file), false, { watch });
  } catch (err) {
    process.stderr.write(err instanceof ConfigError ? `fulcrum: invalid config ${err.message}\n` : `fulcrum: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

function check(file: string): void {
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
