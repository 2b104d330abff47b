/**
 * WebSocket echo benchmark: direct to a backend vs through fulcrum, in one run, rounds alternating.
 *
 *   npm run build && node dist/scripts/ws-bench.js [--connections 100] [--seconds 5] [--size 64] [--rounds 2] [--workers 1]
 *
 * The backend is the bench backend (scripts/bench/backend.ts, its WebSocket echo on /echo);
 * fulcrum runs as `fulcrum start` with its own workers; the clients are the ws-echo workload's
 * driver (scripts/bench/ws-load.ts: closed loop, each connection sends its next message when the
 * echo of the previous one arrives) in this process, after half a second of unmeasured warm-up
 * per round. `npm run bench -- --workloads ws-echo` runs the same workload with the full report.
 * Reports messages/s and round-trip percentiles per round. FULCRUM_BENCH_NODE_ARGS="--cpu-prof"
 * passes node flags to fulcrum's processes (workers inherit them). On a shared 2-core machine the
 * numbers are noisy: compare within a run.
 */
import os from 'node:os';
import { startBackend, startFulcrum } from './bench/proc.js';
import { runWsEcho } from './bench/ws-load.js';
import { wsEcho } from './bench/workloads.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
}

interface Result {
  label: string;
  msgsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
}

async function main(): Promise<void> {
  const connections = arg('connections', 100);
  const seconds = arg('seconds', 5);
  const size = arg('size', 64);
  const rounds = arg('rounds', 2);
  const workers = arg('workers', 1);
  const workload = wsEcho(connections, size);
  const backend = await startBackend();
  const fulcrum = await startFulcrum(backend.port, workers, { nodeArgs: process.env.FULCRUM_BENCH_NODE_ARGS?.split(' ').filter(Boolean) }).catch(
    async (err: unknown) => {
      await backend.stop();
      throw err;
    },
  );
  const round = async (label: string, url: string): Promise<Result> => {
    await runWsEcho({ url, workload, durationS: 0.5 });
    const r = await runWsEcho({ url, workload, durationS: seconds });
    return { label, msgsPerSec: Math.round(r.rps), p50: r.latencyUs.p50 / 1000, p99: r.latencyUs.p99 / 1000, max: r.latencyUs.max / 1000, errors: r.errors };
  };
  try {
    console.log(
      `WebSocket echo, ${size}-byte messages, ${connections} connections, ${seconds} s per round, fulcrum workers: ${workers}, cpus: ${os.cpus().length}, load before: ${os.loadavg()[0]!.toFixed(2)}`,
    );
    const results: Result[] = [];
    for (let i = 0; i < rounds; i++) {
      results.push(await round('direct', `http://127.0.0.1:${backend.port}`));
      results.push(await round('fulcrum', `http://127.0.0.1:${fulcrum.port}`));
    }
    console.log('target    msgs/s    p50 ms   p99 ms   max ms  errors');
    for (const r of results)
      console.log(
        `${r.label.padEnd(8)} ${String(r.msgsPerSec).padStart(8)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)} ${r.max.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)}`,
      );
  } finally {
    await fulcrum.stop();
    await backend.stop();
  }
}

await main();
