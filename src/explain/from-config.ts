/**
 * `fulcrum explain` from the config file alone: the file validated as `fulcrum check` does, built
 * into a routing by the worker's own buildRouting (nothing needs to run, nothing is opened), then
 * explained with servers up and idle, no sessions, full rate buckets and the cache's contents
 * unknown. The CLI calls it; so does the agreement test, which checks it against a live fulcrum.
 */
import { readConfigFile } from '../config/load.js';
import { buildRouting } from '../worker/runtime.js';
import { explain } from './explain.js';
import type { Explanation } from './explanation.js';
import { parseExplainInput, type ExplainInput } from './request.js';

/**
 * explainConfigFile explains `input` against the config at `file` (`name` is how the answer names
 * it); a string says what is wrong with the request. An invalid config throws ConfigError.
 */
export function explainConfigFile(file: string, name: string, input: ExplainInput): Explanation | string {
  const req = parseExplainInput(input);
  if (typeof req === 'string') return req;
  return explain(buildRouting(readConfigFile(file), null), req, name, null);
}
