/**
 * `fulcrum explain`: from the config file (validated as `check` does, then built into a routing by
 * the worker's own buildRouting; nothing needs to run), or with --live from the running fulcrum's
 * GET /explain. Both print the same document: the human form (src/explain/format.ts) or --json.
 */
import path from 'node:path';
import { adminCall, adminTarget } from './cli-admin.js';
import type { Explanation } from './explain/explanation.js';
import type { ExplainInput } from './explain/request.js';

export interface ExplainArgs {
  config: string;
  live: boolean;
  admin: string | undefined;
  json: boolean;
  input: ExplainInput;
}

/** runExplain prints the explanation; a failure to explain prints why on stderr and exits 1. */
export async function runExplain(a: ExplainArgs): Promise<void> {
  const e = a.live ? await fromAdmin(a) : await fromConfig(a);
  const { formatExplanation } = await import('./explain/format.js');
  process.stdout.write(a.json ? JSON.stringify(e, null, 2) + '\n' : formatExplanation(e));
}

function fail(msg: string): never {
  process.stderr.write(`fulcrum explain: ${msg}\n`);
  process.exit(1);
}

async function fromConfig(a: ExplainArgs): Promise<Explanation> {
  const { ConfigError } = await import('./config/load.js');
  const { explainConfigFile } = await import('./explain/from-config.js');
  let e: Explanation | string;
  try {
    e = explainConfigFile(path.resolve(a.config), a.config, a.input);
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid config ${err.message}`);
    throw err;
  }
  if (typeof e === 'string') fail(e);
  return e;
}

async function fromAdmin(a: ExplainArgs): Promise<Explanation> {
  const target = adminTarget(a.config, a.admin);
  const q = new URLSearchParams({ method: a.input.method, url: a.input.url });
  for (const h of a.input.headers) q.append('header', h);
  if (a.input.client !== undefined) q.set('client', a.input.client);
  const r = await adminCall(target, 'GET', `/explain?${q}`, 10_000);
  if (r.status === 0) fail(r.error);
  const body = r.json as (Explanation & { error?: string }) | undefined;
  if (r.status !== 200 || body === undefined) fail(`${target.url} answered HTTP ${r.status}: ${body?.error ?? r.text.trim()}`);
  return body;
}
