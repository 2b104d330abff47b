/**
 * Supervisor forks the workers, restarts a crashed one with exponential backoff, rolls them one
 * at a time when a reload changes what they listen on, and drains them on shutdown.
 */
import cluster, { type Worker } from 'node:cluster';
import { decode, sendMsg, type ConfigMsg, type Message, type ReportSections, type StateSections } from '../ipc.js';
import type { LoadedConfig, UpstreamSpec } from '../config/load.js';
import { log } from '../log.js';

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** two-phase: primary side pending (how long a reload waits for the workers' answers) */
const RELOAD_ANSWER_MS = 10_000;
/** a worker that lived this long is considered healthy again: its backoff resets */
const STABLE_AFTER_MS = 10_000;

interface Slot {
  index: number;
  worker: Worker | null;
  startedAt: number;
  backoffMs: number;
  restarts: number;
  timer: NodeJS.Timeout | null;
}

export class Supervisor {
  private slots: Slot[] = [];
  private generation = 1;
  private stopping = false;
  private readyWaiters = new Map<Worker, (ok: boolean) => void>();
  /** two-phase: primary side pending (reloads waiting for a worker's answer: 'ready' or 'config-failed') */
  private answerWaiters = new Map<Worker, () => void>();
  /** workers whose message handler is in place (they said hello); others would lose a message */
  private listening = new WeakSet<Worker>();
  uwsBuild = '';
  /** called when a worker is listening (at start, after a restart, after a reload): push it the current state */
  onWorkerReady: ((slot: number) => void) | null = null;
  /** called with every batched worker report (slot index, pid, sections) */
  onReport: ((slot: number, pid: number, sections: ReportSections) => void) | null = null;

  constructor(
    private cfg: LoadedConfig,
    private readonly onFatal: (reason: string) => void,
  ) {}

  get config(): LoadedConfig {
    return this.cfg;
  }

  /** start forks all workers and resolves when every one is listening. */
  async start(): Promise<void> {
    const n = this.cfg.workers;
    this.slots = Array.from({ length: n }, (_, index) => ({ index, worker: null, startedAt: 0, backoffMs: BACKOFF_START_MS, restarts: 0, timer: null }));
    await Promise.all(this.slots.map((s) => this.fork(s)));
  }

  private fork(slot: Slot): Promise<boolean> {
    slot.timer = null;
    const w = cluster.fork({ FULCRUM_WORKER_INDEX: String(slot.index) });
    slot.worker = w;
    slot.startedAt = Date.now();
    const ready = new Promise<boolean>((resolve) => this.readyWaiters.set(w, resolve));
    w.on('message', (raw: unknown) => this.onMessage(slot, w, decode(raw)));
    w.on('exit', (code, signal) => this.onExit(slot, w, code, signal));
    return ready;
  }

  private onMessage(slot: Slot, w: Worker, msg: Message | undefined): void {
    if (!msg) return;
    switch (msg.type) {
      case 'hello':
        this.listening.add(w);
        if (this.stopping) sendMsg(w, { type: 'shutdown', drainMs: this.cfg.raw.timeouts.drainMs });
        else sendMsg(w, configMsg(this.generation, this.cfg));
        break;
      case 'ready':
        this.uwsBuild = msg.uwsBuild;
        log.debug('worker ready', { worker: slot.index, workerPid: msg.pid, generation: msg.generation });
        this.readyWaiters.get(w)?.(true);
        this.readyWaiters.delete(w);
        this.answered(w);
        this.onWorkerReady?.(slot.index);
        break;
      case 'prepared':
        // two-phase: primary side pending (commit at once; the primary's own prepare/commit round is another change)
        sendMsg(w, { type: 'commit', generation: msg.generation });
        break;
      case 'config-failed':
        // two-phase: primary side pending (the worker keeps its running config; nothing is rolled back here yet)
        log.error('worker refused the reloaded config; it keeps the running one', { worker: slot.index, generation: msg.generation, reason: msg.reason });
        this.answered(w);
        break;
      case 'report':
        this.onReport?.(slot.index, w.process.pid ?? 0, msg.sections);
        break;
      case 'fatal':
        this.readyWaiters.get(w)?.(false);
        this.readyWaiters.delete(w);
        this.onFatal(msg.reason);
        break;
    }
  }

  private answered(w: Worker): void {
    this.answerWaiters.get(w)?.();
    this.answerWaiters.delete(w);
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    this.readyWaiters.get(w)?.(false);
    this.readyWaiters.delete(w);
    this.answered(w);
    if (slot.worker !== w) return; // replaced by a rolling restart
    slot.worker = null;
    if (this.stopping) return;
    const lived = Date.now() - slot.startedAt;
    if (lived > STABLE_AFTER_MS) slot.backoffMs = BACKOFF_START_MS;
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS);
    slot.restarts++;
    log.warn('worker exited unexpectedly; restarting', {
      worker: slot.index,
      workerPid: w.process.pid,
      code,
      signal,
      restartInMs: delay,
      restarts: slot.restarts,
    });
    slot.timer = setTimeout(() => void this.fork(slot), delay);
  }

  /** broadcastState pushes primary-owned state to every live worker. */
  broadcastState(state: StateSections): void {
    for (const s of this.slots) if (s.worker && this.listening.has(s.worker)) sendMsg(s.worker, { type: 'state', state });
  }

  /** sendState pushes primary-owned state to one worker (slot index), e.g. the full state to a new worker. */
  sendState(slot: number, state: StateSections): void {
    const w = this.slots[slot]?.worker;
    if (w && this.listening.has(w)) sendMsg(w, { type: 'state', state });
  }

  /** workers describes the live workers (for /status and the dashboard). */
  workers(): { index: number; pid: number | undefined; startedAt: number; restarts: number }[] {
    return this.slots.map((s) => ({ index: s.index, pid: s.worker?.process.pid, startedAt: s.startedAt, restarts: s.restarts }));
  }

  /** workerPids lists the live workers' pids, in slot order. */
  workerPids(): number[] {
    return this.slots.map((s) => s.worker?.process.pid).filter((p): p is number => typeof p === 'number');
  }

  /** reload applies a validated config: pushed to the workers, or rolled through them when the listener or worker count changes. */
  async reload(next: LoadedConfig): Promise<void> {
    const prev = this.cfg;
    this.cfg = next;
    this.generation++;
    const relisten = prev.raw.listen.host !== next.raw.listen.host || prev.raw.listen.port !== next.raw.listen.port;
    if (!relisten && prev.workers === next.workers) {
      // two-phase: primary side pending (resolves once every worker answered, so that a change
      // made through the admin API is in effect when its answer leaves)
      const answered: Promise<void>[] = [];
      for (const s of this.slots) {
        const w = s.worker;
        if (!w) continue;
        if (!this.listening.has(w)) {
          sendMsg(w, configMsg(this.generation, next)); // (it gets the current config with its hello anyway)
          continue;
        }
        this.answerWaiters.get(w)?.(); // an earlier reload still waiting: this one supersedes it
        answered.push(new Promise<void>((resolve) => this.answerWaiters.set(w, resolve)));
        sendMsg(w, configMsg(this.generation, next));
      }
      await Promise.race([Promise.all(answered), new Promise((r) => setTimeout(r, RELOAD_ANSWER_MS).unref())]);
      return;
    }
    // Roll: start each new worker before stopping an old one, so the port keeps answering.
    const old = this.slots;
    this.slots = Array.from({ length: next.workers }, (_, index) => ({
      index,
      worker: null,
      startedAt: 0,
      backoffMs: BACKOFF_START_MS,
      restarts: 0,
      timer: null,
    }));
    for (let i = 0; i < Math.max(old.length, this.slots.length); i++) {
      if (i < this.slots.length) await this.fork(this.slots[i]!);
      const o = old[i];
      if (o) {
        if (o.timer) clearTimeout(o.timer);
        const w = o.worker;
        o.worker = null; // its exit is expected now
        if (w) sendMsg(w, { type: 'shutdown', drainMs: prev.raw.timeouts.drainMs });
      }
    }
  }

  /** stop drains every worker and resolves when all have exited (or were killed after the drain time). */
  stop(): Promise<void> {
    this.stopping = true;
    const drainMs = this.cfg.raw.timeouts.drainMs;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    for (const s of this.slots) if (s.timer) clearTimeout(s.timer);
    if (!workers.length) return Promise.resolve();
    return new Promise((resolve) => {
      let left = workers.length;
      const killTimer = setTimeout(() => {
        for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      }, drainMs + 5000);
      for (const w of workers) {
        w.once('exit', () => {
          if (--left === 0) {
            clearTimeout(killTimer);
            resolve();
          }
        });
        // a worker that has not said hello yet gets its shutdown in reply to the hello
        if (this.listening.has(w)) sendMsg(w, { type: 'shutdown', drainMs });
      }
    });
  }
}

/** configMsg is what a worker needs of a config (see ConfigMsg). */
function configMsg(generation: number, cfg: LoadedConfig): ConfigMsg {
  const upstreams: Record<string, UpstreamSpec> = {};
  for (const [name, spec] of Object.entries(cfg.upstreams)) upstreams[name] = { ...spec, healthCheck: undefined };
  return { type: 'config', generation, config: cfg.raw, workers: cfg.workers, upstreams };
}
