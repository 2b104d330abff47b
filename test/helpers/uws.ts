/**
 * Whether the opt-in uWS engine can run here: the skip reason for tests that choose
 * listen.engine "uws" (false where a native build loads). The only build that loads on Debian 12
 * ships binaries for Node <= 20, so on Node 22 and 24 these tests skip and say so.
 */
import { loadUws } from '../../src/uws.js';

function probe(): string | false {
  try {
    loadUws();
    return false;
  } catch (err) {
    return `no native uWS build loads on Node ${process.version} here (${(err as Error).message.split('\n')[0]})`;
  }
}

export const UWS_SKIP: string | false = probe();
