/**
 * Runs one workload's own load driver (its `run` hook, e.g. the WebSocket echo) in a process of
 * its own, so that native-bench can pin it apart from the proxy as it does wrk:
 *
 *   node dist/scripts/bench/run-workload.js <workload> <url> <seconds>
 *
 * prints the LoadResult as one JSON line on stdout.
 */
import { selectWorkloads } from './workloads.js';

async function main(argv: string[]): Promise<void> {
  const [name, url, seconds] = argv;
  if (!name || !url || !seconds) throw new Error('usage: run-workload.js <workload> <url> <seconds>');
  const [w] = selectWorkloads(name);
  if (!w?.run) throw new Error(`workload ${name} has no load driver of its own`);
  const r = await w.run({ url, workload: w, durationS: Number(seconds) });
  process.stdout.write(JSON.stringify({ ...r, curve: undefined, bins: undefined }) + '\n', () => process.exit(0));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`run-workload: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
