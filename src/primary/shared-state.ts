/**
 * SharedState: the primary's connection to the Redis (or Valkey) server named by
 * `sharedState.redis`, through which several fulcrum hosts share sticky sessions
 * (src/primary/shared-sessions.ts), rate-limit buckets and cache purges.
 *
 * Two ioredis clients: one for commands (offline queue off, so a command fails at once while
 * Redis is down rather than piling up) and one subscribed to the channels. Requests never wait
 * for Redis: only the primary talks to it, in the background. While Redis is unreachable fulcrum
 * runs on its local tables (degraded: logged, in /status and fulcrum_shared_state_up); when it
 * comes back every feature re-syncs (onReady handlers).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { SharedStateConfig } from '../config/schema.js';
import { log } from '../log.js';
import { maskUrl } from './redis-url.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

export class SharedState {
  readonly prefix: string;
  /** identifies this host in published messages, so it ignores its own */
  readonly hostId = randomBytes(8).toString('hex');
  readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly handlers = new Map<string, (payload: unknown) => void>();
  private readonly readyHandlers: (() => void)[] = [];
  private up = false;
  private downSince: number | null = Date.now();
  private errors = 0;
  private lastError = '';
  private closed = false;
  private readonly shown: string;

  constructor(cfg: NonNullable<SharedStateConfig['redis']>) {
    this.prefix = cfg.keyPrefix;
    this.shown = maskUrl(cfg.url);
    const opts = {
      commandTimeout: cfg.commandTimeoutMs,
      connectTimeout: Math.max(1000, cfg.commandTimeoutMs * 4),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: (n: number) => Math.min(100 * n, 2000),
      lazyConnect: false,
    };
    this.cmd = new Redis(cfg.url, opts);
    this.sub = new Redis(cfg.url, { ...opts, enableOfflineQueue: true, commandTimeout: undefined });
    this.cmd.on('ready', () => {
      if (this.closed) return;
      const wasDownMs = this.downSince === null ? 0 : Date.now() - this.downSince;
      this.up = true;
      this.downSince = null;
      log.info('shared state: connected to redis', { redis: this.shown, downMs: wasDownMs });
      for (const fn of this.readyHandlers) fn();
    });
    const onDown = (err?: Error) => {
      if (err) {
        this.errors++;
        this.lastError = err.message;
      }
      if (!this.up || this.closed) return;
      this.up = false;
      this.downSince = Date.now();
      log.warn('shared state: redis unreachable; serving with local state (degraded) until it returns', {
        redis: this.shown,
        error: err?.message ?? 'connection closed',
      });
    };
    this.cmd.on('error', (err: Error) => onDown(err));
    this.cmd.on('close', () => onDown());
    this.sub.on('error', () => {});
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      let m: [string, unknown];
      try {
        m = packr.unpack(message) as [string, unknown];
      } catch {
        return;
      }
      if (!Array.isArray(m) || m[0] === this.hostId) return;
      this.handlers.get(channel.toString().slice(this.prefix.length))?.(m[1]);
    });
  }

  get connected(): boolean {
    return this.up;
  }

  /** onMessage subscribes to a channel (name without the prefix); messages from this host are skipped. */
  onMessage(channel: string, fn: (payload: unknown) => void): void {
    this.handlers.set(channel, fn);
    void this.sub.subscribe(this.prefix + channel).catch(() => {});
  }

  /** onReady runs fn on every (re)connection: the place to re-sync. */
  onReady(fn: () => void): void {
    this.readyHandlers.push(fn);
    if (this.up) fn();
  }

  /** publish sends a message to the other hosts (dropped while Redis is down). */
  publish(channel: string, payload: unknown): void {
    if (!this.up) return;
    this.cmd.publish(this.prefix + channel, packr.pack([this.hostId, payload])).catch((err: Error) => this.failed(err));
  }

  /** failed counts a command that failed (Redis slow or down); the caller keeps its local state. */
  failed(err: Error): void {
    this.errors++;
    this.lastError = err.message;
  }

  status() {
    return {
      redis: this.shown,
      connected: this.up,
      degradedSince: this.downSince === null ? null : new Date(this.downSince).toISOString(),
      errors: this.errors,
      lastError: this.lastError || null,
    };
  }

  /** prometheus is this module's part of GET /metrics */
  prometheus(): string {
    return (
      '# HELP fulcrum_shared_state_up 1 while the shared-state Redis is reachable; 0: degraded, serving with local state.\n# TYPE fulcrum_shared_state_up gauge\n' +
      `fulcrum_shared_state_up ${this.up ? 1 : 0}\n` +
      '# HELP fulcrum_shared_state_errors_total Redis commands that failed or timed out (fulcrum carried on with local state).\n# TYPE fulcrum_shared_state_errors_total counter\n' +
      `fulcrum_shared_state_errors_total ${this.errors}\n`
    );
  }

  close(): void {
    this.closed = true;
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
