/**
 * Supervisor forks the workers, restarts a crashed one with exponential backoff, applies reloads
 * so that they take effect whole or not at all (nginx's promise), and drains the workers on
 * shutdown.
 *
 * A reload that the running workers can take (same listener, same number of workers) is applied
 * in two phases (see ConfigMsg in ipc.ts): every serving worker prepares the new generation and
 * answers 'prepared'; only when all have, within PREPARE_TIMEOUT_MS, are they all told to commit.
 * One 'config-failed', exit or timeout, and all are told to discard: the running generation stays
 * and a worker that died is restarted on it. A reload that needs new processes (another listener,
 * another worker count, other WebSocket settings) starts a whole new generation beside the
 * running one and drains the old workers only once every new one listens; if any new worker
 * cannot start ('fatal', exit, START_TIMEOUT_MS) the new generation is stopped and the old one,
 * untouched, keeps serving. Reloads run one at a time.
 */
import cluster, { type Worker } from 'node:cluster';
import { sendListenCopies } from './listen-copies.js';
import { decode, sendMsg, type ConfigMsg, type Message, type StateSections } from '../ipc.js';
import type { LoadedConfig, UpstreamSpec } from '../config/load.js';
import { log } from '../log.js';
import { ReportRegistry } from './report-registry.js';

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** a worker that lived this long is considered healthy again: its backoff resets */
const STABLE_AFTER_MS = 10_000;
/** how long a serving worker may take to prepare a reloaded config */
const PREPARE_TIMEOUT_MS = 10_000;
/** how long a new worker may take to listen (loading uWS, building its runtime) */
const START_TIMEOUT_MS = 15_000;

/** A config generation: the number workers see, and the config. */
interface Generation {
  number: number;
  cfg: LoadedConfig;
}

interface Slot {
  index: number;
  worker: Worker | null;
  startedAt: number;
  backoffMs: number;
  restarts: number;
  timer: NodeJS.Timeout | null;
  /** the generation this slot's worker runs (and a restarted one gets) */
  gen: Generation;
  /** part of a new generation being started: not restarted; its failure fails the reload */
  trial: boolean;
  /** replaced by a new generation: its worker drains and is not restarted */
  retired: boolean;
}

type WorkerEvent =
  | { kind: 'ready'; generation: number }
  | { kind: 'prepared'; generation: number }
  | { kind: 'config-failed'; generation: number; reason: string }
  | { kind: 'fatal'; reason: string }
  | { kind: 'exit'; code: number | null; signal: string | null }
  | { kind: 'timeout' };

/** ReloadOutcome: a reload took effect (the new generation serves) or not (the running one stays, and why). */
export type ReloadOutcome = { ok: true; generation: number } | { ok: false; generation: number; reason: string };

export class Supervisor {
  private slots: Slot[] = [];
  /** the workers of a new generation being started (they serve as soon as they listen) */
  private trials: Slot[] = [];
  private running: Generation;
  private stopping = false;
  /** a reload is being prepared by the running workers: a restarted one waits for its outcome */
  private preparing = false;
  private readonly deferredHellos = new Set<Worker>();
  private readonly slotOf = new Map<Worker, Slot>();
  /** workers whose message handler is in place (they said hello); others would lose a message */
  private readonly listening = new WeakSet<Worker>();
  /** workers that have served (said 'ready') */
  private readonly serving = new WeakSet<Worker>();
  /** workers that started on an older generation than their slot's and are catching up */
  private readonly catchingUp = new WeakSet<Worker>();
  /** what is waiting for each worker's next events (start, a reload: each its own) */
  private readonly awaiting = new Map<Worker, Set<{ accept: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }>>();
  private queue: Promise<unknown> = Promise.resolve();
  /** the client engine the workers run (listen.engine) and its build, from their 'ready' */
  engine = '';
  engineBuild = '';
  /** the handlers of worker reports and of workers that start serving */
  readonly reports = new ReportRegistry();

  constructor(
    cfg: LoadedConfig,
    private readonly onFatal: (reason: string) => void,
  ) {
    this.running = { number: 1, cfg };
  }

  /** config is the running config (a reload being prepared is not it until it commits). */
  get config(): LoadedConfig {
    return this.running.cfg;
  }

  get generation(): number {
    return this.running.number;
  }

  /** start forks all workers and resolves when every one is listening (a 'fatal' calls onFatal). */
  async start(): Promise<void> {
    this.slots = this.newSlots(this.running, false);
    await Promise.all(this.slots.map((s) => this.expect(this.fork(s), (e) => e.kind === 'ready' || e.kind === 'fatal', Infinity)));
  }

  private newSlots(gen: Generation, trial: boolean): Slot[] {
    return Array.from({ length: gen.cfg.workers }, (_, index) => ({
      index,
      worker: null,
      startedAt: 0,
      backoffMs: BACKOFF_START_MS,
      restarts: 0,
      timer: null,
      gen,
      trial,
      retired: false,
    }));
  }

  private fork(slot: Slot): Worker {
    slot.timer = null;
    const w = cluster.fork({ FULCRUM_WORKER_INDEX: String(slot.index) });
    slot.worker = w;
    slot.startedAt = Date.now();
    this.slotOf.set(w, slot);
    w.on('message', (raw: unknown, handle: unknown) => this.onMessage(slot, w, decode(raw), handle));
    w.on('exit', (code, signal) => this.onExit(slot, w, code, signal));
    // A send to a worker that was killed but whose exit is not handled yet fails after the
    // call, as an 'error' event on the Worker: without a listener it would take the primary
    // down (it did, when health state was pushed just as every worker was SIGKILLed).
    w.on('error', (err: Error) => log.debug('message to a worker lost', { worker: slot.index, workerPid: w.process.pid, error: err.message }));
    return w;
  }

  private onMessage(slot: Slot, w: Worker, msg: Message | undefined, handle?: unknown): void {
    if (!msg) return;
    switch (msg.type) {
      case 'hello':
        this.listening.add(w);
        if (this.stopping || slot.retired) sendMsg(w, { type: 'shutdown', drainMs: slot.gen.cfg.raw.timeouts.drainMs });
        else if (this.preparing && !slot.trial) this.deferredHellos.add(w);
        else this.configure(slot, w);
        break;
      case 'ready':
        this.engine = msg.engine;
        this.engineBuild = msg.build;
        log.debug('worker ready', { worker: slot.index, workerPid: msg.pid, generation: msg.generation });
        this.serving.add(w);
        this.catchingUp.delete(w);
        this.notify(w, { kind: 'ready', generation: msg.generation });
        if (!slot.trial && !slot.retired && msg.generation < slot.gen.number) {
          // it started on the config it was sent while a reload committed: bring it up to date
          this.catchingUp.add(w);
          sendMsg(w, configMsg(slot.gen));
        }
        break;
      case 'prepared':
        if (this.catchingUp.has(w) && msg.generation === slot.gen.number) sendMsg(w, { type: 'commit', generation: msg.generation });
        this.notify(w, { kind: 'prepared', generation: msg.generation });
        break;
      case 'config-failed':
        if (this.catchingUp.has(w)) {
          // it cannot take the running config: a fresh worker starts on it
          log.error('worker cannot apply the running config; replacing it', { worker: slot.index, workerPid: w.process.pid, reason: msg.reason });
          w.process.kill('SIGTERM');
        }
        this.notify(w, { kind: 'config-failed', generation: msg.generation, reason: msg.reason });
        break;
      case 'report':
        this.reports.dispatch(slot.index, w.process.pid ?? 0, msg.sections);
        break;
      case 'listen-copies':
        sendListenCopies(w, msg, handle);
        break;
      case 'fatal':
        this.notify(w, { kind: 'fatal', reason: msg.reason });
        if (!slot.trial && !slot.retired) this.onFatal(msg.reason);
        break;
    }
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    this.slotOf.delete(w);
    this.deferredHellos.delete(w);
    this.notify(w, { kind: 'exit', code, signal });
    if (slot.worker !== w) return; // replaced, or drained by a reload
    slot.worker = null;
    if (this.stopping || slot.trial || slot.retired) return; // a failed trial is dealt with by its reload
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
      generation: slot.gen.number,
    });
    slot.timer = setTimeout(() => this.fork(slot), delay);
  }

  /**
   * configure sends a starting worker its config, and right after it the state the primary owns
   * (health, sessions...), so that the worker has it before it serves its first request.
   */
  private configure(slot: Slot, w: Worker): void {
    sendMsg(w, configMsg(slot.gen));
    this.reports.workerStarting({ slot: slot.index, pid: w.process.pid ?? 0, send: (state) => this.sendTo(w, state) });
  }

  /** expect resolves with the worker's next event that `accept`s (or its exit, or a timeout). */
  private expect(w: Worker, accept: (e: WorkerEvent) => boolean, timeoutMs: number): Promise<WorkerEvent> {
    if (w.isDead()) return Promise.resolve({ kind: 'exit', code: w.process.exitCode, signal: w.process.signalCode });
    return new Promise((resolve) => {
      let set = this.awaiting.get(w);
      if (!set) this.awaiting.set(w, (set = new Set()));
      const waiter = {
        accept,
        resolve: (e: WorkerEvent) => {
          if (timer) clearTimeout(timer);
          set.delete(waiter);
          if (set.size === 0 && this.awaiting.get(w) === set) this.awaiting.delete(w);
          resolve(e);
        },
      };
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => waiter.resolve({ kind: 'timeout' }), timeoutMs) : null;
      set.add(waiter);
    });
  }

  private notify(w: Worker, e: WorkerEvent): void {
    const set = this.awaiting.get(w);
    if (set) for (const a of [...set]) if (e.kind === 'exit' || a.accept(e)) a.resolve(e);
  }

  /** the workers state is pushed to: the running generation's and one being started */
  private *targets(): Generator<Slot> {
    yield* this.slots;
    yield* this.trials;
  }

  private sendTo(w: Worker, state: StateSections): void {
    if (this.listening.has(w) && w.isConnected()) sendMsg(w, { type: 'state', state });
  }

  /** broadcastState pushes primary-owned state to every live worker. */
  broadcastState(state: StateSections): void {
    for (const s of this.targets()) if (s.worker) this.sendTo(s.worker, state);
  }

  /** sendState pushes primary-owned state to the worker(s) of one slot index. */
  sendState(slot: number, state: StateSections): void {
    for (const s of this.targets()) if (s.index === slot && s.worker) this.sendTo(s.worker, state);
  }

  /** workers describes the running workers (for /status and the dashboard). */
  workers(): { index: number; pid: number | undefined; startedAt: number; restarts: number }[] {
    return this.slots.map((s) => ({ index: s.index, pid: s.worker?.process.pid, startedAt: s.startedAt, restarts: s.restarts }));
  }

  /** workerPids lists the running workers' pids, in slot order. */
  workerPids(): number[] {
    return this.slots.map((s) => s.worker?.process.pid).filter((p): p is number => typeof p === 'number');
  }

  /**
   * reload applies a validated config whole, or not at all (see the file comment). It never
   * throws and never stops the running workers when the new config fails.
   */
  reload(next: LoadedConfig): Promise<ReloadOutcome> {
    const run = this.queue.then(() => {
      if (this.stopping) return { ok: false as const, generation: this.running.number, reason: 'fulcrum is stopping' };
      const gen = { number: this.running.number + 1, cfg: next };
      const why = needsNewWorkers(this.running.cfg, next);
      return why === null ? this.reloadInPlace(gen) : this.roll(gen, why);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async reloadInPlace(gen: Generation): Promise<ReloadOutcome> {
    const workers = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== null && this.serving.has(w) && !w.isDead());
    const indexes = workers.map((w) => this.slotOf.get(w)?.index ?? -1);
    this.preparing = true;
    try {
      for (const w of workers) sendMsg(w, configMsg(gen));
      const answers = await Promise.all(
        workers.map((w) => this.expect(w, (e) => (e.kind === 'prepared' || e.kind === 'config-failed') && e.generation === gen.number, PREPARE_TIMEOUT_MS)),
      );
      const failure = answers.map((e, i) => failureOf(e, indexes[i]!, 'prepare', PREPARE_TIMEOUT_MS)).find((r) => r !== null);
      if (failure) {
        for (const w of workers) if (!w.isDead()) sendMsg(w, { type: 'discard', generation: gen.number });
        return { ok: false, generation: this.running.number, reason: failure };
      }
      this.running = gen;
      for (const s of this.slots) s.gen = gen;
      for (const w of workers) sendMsg(w, { type: 'commit', generation: gen.number });
      const committed = await Promise.all(workers.map((w) => this.expect(w, (e) => e.kind === 'ready' && e.generation === gen.number, PREPARE_TIMEOUT_MS)));
      // a commit cannot fail; a worker that dies meanwhile is restarted on the new generation
      if (committed.some((e) => e.kind !== 'ready')) log.warn('a worker did not confirm the reload; it is restarted if it died', { generation: gen.number });
      return { ok: true, generation: gen.number };
    } finally {
      this.preparing = false;
      for (const w of this.deferredHellos) {
        const s = this.slotOf.get(w);
        if (s && !w.isDead()) this.configure(s, w);
      }
      this.deferredHellos.clear();
    }
  }

  private async roll(gen: Generation, why: string): Promise<ReloadOutcome> {
    log.info('reload starts a new generation of workers', { generation: gen.number, why, workers: gen.cfg.workers });
    const trials = this.newSlots(gen, true);
    this.trials = trials;
    const answers = await Promise.all(trials.map((s) => this.expect(this.fork(s), (e) => e.kind === 'ready' || e.kind === 'fatal', START_TIMEOUT_MS)));
    const failure = answers.map((e, i) => failureOf(e, i, 'start', START_TIMEOUT_MS)).find((r) => r !== null);
    if (failure) {
      // stop the new generation; the running one was never touched
      for (const s of trials) {
        s.retired = true;
        const w = s.worker;
        if (!w || w.isDead()) continue;
        if (this.listening.has(w)) sendMsg(w, { type: 'shutdown', drainMs: gen.cfg.raw.timeouts.drainMs });
        else w.process.kill('SIGKILL'); // it has not said hello: it listens on nothing
      }
      this.trials = [];
      return { ok: false, generation: this.running.number, reason: failure };
    }
    // every new worker listens: swap, then drain the old generation
    const old = this.slots;
    const drainMs = this.running.cfg.raw.timeouts.drainMs;
    for (const s of trials) s.trial = false;
    this.slots = trials;
    this.trials = [];
    this.running = gen;
    for (const o of old) {
      o.retired = true;
      if (o.timer) clearTimeout(o.timer);
      const w = o.worker;
      o.worker = null; // its exit is expected now
      if (w && this.listening.has(w)) sendMsg(w, { type: 'shutdown', drainMs });
      else w?.process.kill('SIGKILL'); // still starting (a restart): it listens on nothing yet
    }
    return { ok: true, generation: gen.number };
  }

  /** stop drains every worker and resolves when all have exited (or were killed after the drain time). */
  stop(): Promise<void> {
    this.stopping = true;
    const drainMs = this.running.cfg.raw.timeouts.drainMs;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    for (const s of this.targets()) if (s.timer) clearTimeout(s.timer);
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

/**
 * needsNewWorkers says why a reload cannot be applied by the running workers (null: it can):
 * what they listen on and their number are fixed per process, and so are the WebSocket settings
 * (the uWS behaviour is registered once, when a worker starts).
 */
function needsNewWorkers(prev: LoadedConfig, next: LoadedConfig): string | null {
  // host, port, the engine (and what else listen holds) are fixed when a worker starts listening
  if (JSON.stringify(prev.raw.listen) !== JSON.stringify(next.raw.listen)) return 'listen changed';
  if (prev.workers !== next.workers) return 'the number of workers changed';
  if (JSON.stringify(prev.raw.websocket) !== JSON.stringify(next.raw.websocket)) return 'websocket settings changed';
  return null;
}

/** failureOf turns a worker's answer into why the reload fails, or null when it did its part. */
function failureOf(e: WorkerEvent, worker: number, phase: 'prepare' | 'start', timeoutMs: number): string | null {
  switch (e.kind) {
    case 'prepared':
    case 'ready':
      return null;
    case 'config-failed':
    case 'fatal':
      return `worker ${worker}: ${e.reason}`;
    case 'exit':
      return `worker ${worker} exited while it ${phase === 'prepare' ? 'prepared the new config' : 'started on the new config'} (${e.signal ? `signal ${e.signal}` : `code ${e.code}`})`;
    case 'timeout':
      return `worker ${worker} did not ${phase === 'prepare' ? 'prepare the new config' : 'listen'} within ${timeoutMs} ms`;
  }
}

/** configMsg is what a worker needs of a config (see ConfigMsg). */
function configMsg(gen: Generation): ConfigMsg {
  const upstreams: Record<string, UpstreamSpec> = {};
  for (const [name, spec] of Object.entries(gen.cfg.upstreams)) upstreams[name] = { ...spec, healthCheck: undefined };
  return { type: 'config', generation: gen.number, config: gen.cfg.raw, workers: gen.cfg.workers, upstreams };
}
