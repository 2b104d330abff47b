/**
 * A worker's lifecycle: the IPC with the primary, start, reload, drain and exit. Requests are the
 * engine's and the dispatcher's (dispatch.ts); what a config builds is the runtime's (runtime.ts).
 *
 * Start: build the runtime, listen, answer 'ready' (or 'fatal': the primary does not restart a
 * worker that cannot run). Reload, in two phases (ConfigMsg in src/ipc.ts): build the new runtime
 * beside the running one and answer 'prepared' (or 'config-failed' with the reason, the running
 * generation untouched); then 'commit' swaps it in and answers 'ready', 'discard' drops it.
 */
import cluster from 'node:cluster';
import { decode, sendMsg, type ConfigMsg, type PrimaryToWorker } from '../ipc.js';
import { log, setLogRole } from '../log.js';
import { registerCacheState } from './cache/cache-state.js';
import { registerCompressionState } from './compress/compression-state.js';
import { receiveCopy } from './engine/accept-copies.js';
import { createEngine, type WorkerEngine } from './engines.js';
import { registerClientLimiter } from './guard/client-limiter.js';
import { startTimeoutSweep } from './guard/limits.js';
import { registerRateLimiter } from './guard/rate-limiter.js';
import { hookAccessLogSignals } from './obs/access-log.js';
import { activity } from './obs/activity.js';
import { flushMetrics, gauge, startMetrics } from './obs/metrics.js';
import { applyState, startReporting } from './obs/report.js';
import { buildRuntime, commitRuntime, discardRuntime, runtime, type Runtime } from './runtime.js';
import { closeAllTunnels } from './proxy/tunnel-relay.js';
import { installSticky } from './sticky.js';
import { installSharedState } from './upstream/shared-state.js';
import { closeAllWebSockets } from './ws/ws-proxy.js';

/** a draining worker exits after this long without a new request (and none in flight) */
const DRAIN_QUIET_MS = 150;

export function runWorker(): void {
  const index = Number(process.env.FULCRUM_WORKER_INDEX ?? cluster.worker?.id ?? 0);
  setLogRole(`worker-${index}`);

  /** built when the first config arrives (listen.engine chooses it; a reload cannot change it) */
  let engine: WorkerEngine | null = null;
  /** a reloaded generation built and waiting for 'commit' or 'discard' */
  let prepared: Runtime | null = null;
  let draining = false;

  function fatal(reason: string): never {
    sendMsg(process, { type: 'fatal', reason });
    log.error(reason);
    process.exit(1);
  }

  function ready(generation: number): void {
    sendMsg(process, { type: 'ready', generation, pid: process.pid, engine: engine!.name, build: engine!.build });
  }

  async function start(msg: ConfigMsg): Promise<void> {
    let rt: Runtime;
    try {
      engine = createEngine(msg.config);
      rt = buildRuntime(msg, null, engine.openTls);
    } catch (err) {
      fatal((err as Error).message);
    }
    // the handlers of the primary's state (health, sessions, rate limits) first: that state
    // follows the config message at once, possibly in the same read, before any await below
    installSharedState();
    installSticky();
    registerRateLimiter();
    registerClientLimiter();
    hookAccessLogSignals(() => runtime()?.accessLog);
    const [tlsError] = await Promise.all([rt.tls?.opened, engine.prepare(rt)]);
    if (tlsError) fatal(tlsError);
    commitRuntime(rt);
    const e = engine;
    e.listen(rt, (error) => {
      if (error !== null) fatal(error);
      startMetrics();
      gauge('fulcrum_worker_resident_memory_bytes', 'Resident memory (RSS) of each worker process, in bytes.', ['worker'], (emit) =>
        emit([String(index)], process.memoryUsage.rss()),
      );
      gauge('fulcrum_upstream_in_flight', 'Requests in flight to each upstream server.', ['upstream', 'server'], (emit) => {
        for (const u of runtime()!.upstreams.values()) for (const s of u.servers) emit([u.name, s.id], s.inFlight);
      });
      gauge('fulcrum_requests_in_flight', 'Client requests being proxied.', [], (emit) => emit([], activity.inFlight));
      startReporting();
      startTimeoutSweep(() => runtime()!.limits);
      ready(msg.generation);
    });
  }

  /**
   * FULCRUM_TEST_CRASH_IN_PREPARE=<worker index>: a fault hook for tests only (test/reload-refused.test.ts),
   * read once: that worker exits while it builds a reloaded config's runtime. Inert unless set.
   */
  const crashInPrepare = process.env.FULCRUM_TEST_CRASH_IN_PREPARE === String(index);

  /** prepare builds a reloaded config beside the running one (nothing of the running one changes). */
  async function prepare(msg: ConfigMsg): Promise<void> {
    if (prepared !== null) {
      // a newer config replaces one that was never committed
      discardRuntime(prepared);
      prepared = null;
    }
    let rt: Runtime;
    try {
      if (crashInPrepare) {
        log.error('FULCRUM_TEST_CRASH_IN_PREPARE: exiting while preparing a reload (test fault)');
        process.exit(70);
      }
      rt = buildRuntime(msg, runtime(), engine!.openTls);
    } catch (err) {
      return refuse(msg.generation, (err as Error).message);
    }
    prepared = rt;
    // the HTTP/2 implementation it serves with is loaded before it takes connections (no connection waits for an import)
    const [tlsError] = await Promise.all([rt.tls?.opened, engine!.prepare(rt)]);
    // a newer config or a discard came meanwhile: that one decides
    if (prepared !== rt) return;
    if (tlsError) {
      discardRuntime(rt);
      prepared = null;
      return refuse(msg.generation, tlsError);
    }
    sendMsg(process, { type: 'prepared', generation: msg.generation, pid: process.pid });
  }

  function refuse(generation: number, reason: string): void {
    log.error('reload refused by worker; the running config stays', { generation, error: reason });
    sendMsg(process, { type: 'config-failed', generation, reason });
  }

  function commit(generation: number): void {
    const next = prepared;
    if (next === null || next.generation !== generation) {
      log.warn('commit of a generation that is not prepared; ignored', { generation, prepared: next?.generation });
      return;
    }
    prepared = null;
    commitRuntime(next);
    engine!.configure(next);
    ready(generation);
  }

  function discard(generation: number): void {
    if (prepared === null || prepared.generation !== generation) return;
    discardRuntime(prepared);
    prepared = null;
  }

  function exitDrained(): void {
    log.info('drained, exiting');
    // the last metrics go to the primary first, so that counts stay exact across reloads
    flushMetrics(() => process.exit(0));
  }

  function shutdown(drainMs: number): void {
    if (draining) return;
    draining = true;
    // responses from now on carry "Connection: close", so that keep-alive clients reconnect, to
    // the workers that still listen
    engine?.drain();
    if (prepared !== null) discardRuntime(prepared);
    prepared = null;
    if (activity.inFlight === 0) return exitDrained();
    // (the upstream pools stay open: requests still arrive on open client connections)
    // Exit once no request has come for DRAIN_QUIET_MS and none is in flight. A connection that
    // stays idle through all of it is closed on exit, as nginx does.
    let seen = activity.started;
    const quiet = setInterval(() => {
      if (activity.inFlight === 0 && activity.started === seen) exitDrained();
      seen = activity.started;
    }, DRAIN_QUIET_MS);
    quiet.unref();
    log.info('draining', { inFlight: activity.inFlight, drainMs });
    setTimeout(() => {
      // open WebSockets get 1001 Going Away; the worker exits when they are closed (or soon after)
      const sockets = closeAllWebSockets() + closeAllTunnels();
      log.warn('drain timeout reached, exiting with requests in flight', { inFlight: activity.inFlight, websockets: sockets });
      if (sockets === 0 || activity.inFlight === 0) process.exit(0);
      setTimeout(() => process.exit(0), 1000);
    }, drainMs).unref();
  }

  process.on('message', (raw: unknown, handle: unknown) => {
    const msg = decode(raw) as PrimaryToWorker | undefined;
    if (!msg) return;
    switch (msg.type) {
      case 'config':
        if (engine === null) void start(msg);
        else void prepare(msg);
        break;
      case 'commit':
        commit(msg.generation);
        break;
      case 'discard':
        discard(msg.generation);
        break;
      case 'shutdown':
        shutdown(msg.drainMs);
        break;
      case 'state':
        applyState(msg.state);
        break;
      case 'listen-copy':
        receiveCopy(msg.key, handle);
        break;
    }
  });
  registerCacheState(() => runtime()?.store ?? null);
  registerCompressionState();
  sendMsg(process, { type: 'hello', pid: process.pid });
  // the primary is gone: nobody supervises us any more
  process.on('disconnect', () => process.exit(0));
  // SIGINT/SIGTERM from a terminal reach the whole process group; the primary coordinates
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => shutdown(runtime()?.cfg.raw.timeouts.drainMs ?? 0));
  process.on('SIGHUP', () => {});
}
