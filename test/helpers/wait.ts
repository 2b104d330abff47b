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
