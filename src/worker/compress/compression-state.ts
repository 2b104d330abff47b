/** The worker side of compression's IPC: pool counters in the batched report, when they changed. */
import { addReporter } from '../obs/report.js';
import { compressStats } from './compressor.js';

let lastSig = '';

export function registerCompressionState(): void {
  addReporter('compression', () => {
    const sig = `${compressStats.poolTasks} ${compressStats.mainThreadTasks} ${compressStats.bytesIn}`;
    if (sig === lastSig) return undefined;
    lastSig = sig;
    return { ...compressStats };
  });
}
