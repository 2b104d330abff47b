/**
 * Reloads from the config file: SIGHUP, POST /reload and `fulcrum start --watch` all run
 * reloadFile. The file is read and validated (an invalid config: 422 with the field errors), the
 * servers' host names must resolve (422, as nginx's "host not found in upstream"), then the
 * Supervisor applies it whole or not at all (the workers refused it: 500 with the reason). The
 * outcome is logged and kept for GET /status. The primary never exits because a reload failed:
 * the running generation keeps serving.
 */
import { ConfigError, readConfigFile, type ConfigIssue, type LoadedConfig } from '../config/load.js';
import { log } from '../log.js';
import type { Supervisor } from './supervisor.js';
import { unresolvedServers } from './upstream-names.js';

/** ReloadResult is the answer of a reload (POST /reload sends it with `status`). */
export interface ReloadResult {
  ok: boolean;
  /** 200 reloaded; 422 the config is invalid; 500 the workers could not apply it */
  status: 200 | 422 | 500;
  /** the generation serving after the reload (unchanged when it failed) */
  generation: number;
  message: string;
  /** why the workers refused it (500) */
  reason?: string;
  /** what is wrong with the config (422) */
  errors?: ConfigIssue[];
}

/** LastReload is the outcome of the latest reload, for GET /status. */
export interface LastReload {
  time: string;
  source: string;
  ok: boolean;
  generation: number;
  reason?: string;
}

export class Reloader {
  /** the latest reload's outcome (null before the first) */
  last: LastReload | null = null;

  constructor(
    private readonly file: string,
    private readonly sup: Supervisor,
    /** called once a reloaded config serves: the primary's own state follows it */
    private readonly applied: (next: LoadedConfig) => void,
  ) {}

  /** reloadFile reloads the config file; `source` says who asked (SIGHUP, admin, watch). */
  async reloadFile(source: string): Promise<ReloadResult> {
    let next: LoadedConfig;
    try {
      next = readConfigFile(this.file);
    } catch (err) {
      const errors = err instanceof ConfigError ? err.issues : [{ path: '$', value: '', expected: (err as Error).message }];
      return this.refused(source, errors, err instanceof ConfigError ? err.message : (err as Error).message);
    }
    const unresolved = await unresolvedServers(next);
    if (unresolved.length) return this.refused(source, unresolved, unresolved.map((i) => `${i.path}: ${i.expected}`).join('; '));
    const out = await this.sup.reload(next);
    if (!out.ok) {
      log.error('reload failed: the workers could not apply the new config; the running one stays', {
        source,
        config: this.file,
        reason: out.reason,
        generation: out.generation,
      });
      this.note(source, false, out.generation, out.reason);
      return {
        ok: false,
        status: 500,
        generation: out.generation,
        message: 'the workers could not apply the new config; the running config stays',
        reason: out.reason,
      };
    }
    this.applied(next);
    log.info('reloaded', { source, config: this.file, workers: next.workers, generation: out.generation });
    this.note(source, true, out.generation);
    return { ok: true, status: 200, generation: out.generation, message: 'reloaded' };
  }

  private refused(source: string, errors: ConfigIssue[], detail: string): ReloadResult {
    log.error('reload refused: the config has errors; the running config stays', { source, config: this.file, errors: detail });
    this.note(source, false, this.sup.generation, detail);
    return { ok: false, status: 422, generation: this.sup.generation, message: 'config has errors; the running config stays', errors };
  }

  private note(source: string, ok: boolean, generation: number, reason?: string): void {
    this.last = { time: new Date().toISOString(), source, ok, generation, ...(reason !== undefined ? { reason } : {}) };
  }
}
