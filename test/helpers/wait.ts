/** Waiting helpers for tests: polling with a deadline, and the admin status document. */
import type { Fulcrum } from './fulcrum.js';
import { request } from './client.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** until polls cond every stepMs until it holds, or throws after timeoutMs naming `what`. */
export async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** status returns GET /status of a running fulcrum, parsed. */
export async function status(f: Fulcrum) {
  return JSON.parse((await request(`${f.adminUrl}/status`)).text);
}

/**
 * eventually runs `check` (a group of assertions) until it passes, or rethrows its last failure
 * after timeoutMs. For state that reaches the workers over IPC after the event a test waits for
 * (a health change, an admin API change, a session move): under load that takes longer than any
 * fixed sleep, and a check that passes once the state has arrived says what the user sees.
 */
export async function eventually(check: () => Promise<void>, timeoutMs = 5000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(stepMs);
    }
  }
}

/**
 * Waiters: promises that settle when a condition holds, checked each time the owner calls wake()
 * (a raw client after every frame or message it reads), or fail after their own timeout.
 */
export class Waiters {
  private list: (() => void)[] = [];

  /** until resolves once cond holds, or rejects after timeoutMs with `timed out ... waiting for <what>` and describe()'s state */
  until(cond: () => boolean, timeoutMs: number, what: string, describe: () => string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.list = this.list.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.list = this.list.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe()}`));
      }, timeoutMs);
      this.list.push(check);
    });
  }

  wake(): void {
    for (const w of [...this.list]) w();
  }
}
