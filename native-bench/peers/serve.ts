/**
 * How native-bench's Node peers start: `node <peer>.js <listenPort> <backendPort> [workers]`.
 * With one worker the server runs in the process itself; with more, node:cluster forks that many
 * workers sharing the listening socket (Node's default round-robin distribution from the
 * primary). "listening" is printed on stdout once every worker accepts connections. SIGTERM
 * stops the workers and the primary.
 */
import cluster from 'node:cluster';

export interface PeerArgs {
  port: number;
  backendPort: number;
  workers: number;
}

export function peerArgs(name: string, argv: string[] = process.argv.slice(2)): PeerArgs {
  const [port, backendPort, workers = 1] = argv.map(Number);
  if (!port || !backendPort || !Number.isInteger(workers) || workers < 1) {
    process.stderr.write(`usage: ${name} <listenPort> <backendPort> [workers]\n`);
    process.exit(2);
  }
  return { port, backendPort, workers };
}

/** serve runs `start` (which resolves once its server listens) in this process or in N cluster workers. */
export function serve(workers: number, start: () => Promise<void>): void {
  const fail = (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  };
  if (workers === 1 || !cluster.isPrimary) {
    start().then(() => (cluster.isPrimary ? process.stdout.write('listening\n') : process.send!('listening')), fail);
    return;
  }
  let ready = 0;
  let stopping = false;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on('message', (m) => {
      if (m === 'listening' && ++ready === workers) process.stdout.write('listening\n');
    });
  }
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    process.stderr.write(`worker ${w.process.pid} exited (${signal ?? code}): stopping\n`);
    process.exit(1);
  });
  process.once('SIGTERM', () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 200).unref();
    cluster.disconnect(() => process.exit(0));
  });
}
