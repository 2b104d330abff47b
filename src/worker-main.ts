/** Entry point of a worker process (node:cluster `exec`). */
import { runWorker } from './worker/worker.js';

runWorker();
