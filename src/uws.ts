/**
 * The one module that loads uWebSockets.js.
 *
 * The official uWS.js is only published on GitHub; two npm republishes exist. We load their
 * native `.node` binaries directly, in a fixed order, and never through a package's JS entry:
 * `@trufflesuite/uws-js-unofficial`'s entry silently falls back to a slow pure-JS server when its
 * binary fails to load, and a proxy that quietly runs 20x slower is worse than one that refuses
 * to start.
 *
 * Order (first that loads wins):
 *   1. `@btc-vision/uwebsockets.js` (v20.57, Node 20-25; needs glibc >= 2.38)
 *   2. `@trufflesuite/uws-js-unofficial` (v20.30, Node 20 ABI 115)
 * `FULCRUM_UWS=<package name>` restricts loading to that one candidate.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as UwsTypes from '@trufflesuite/uws-js-unofficial';

export type Uws = typeof UwsTypes;
export type HttpResponse = UwsTypes.HttpResponse;
export type HttpRequest = UwsTypes.HttpRequest;
export type ListenSocket = UwsTypes.us_listen_socket;
export type UwsWebSocket<U> = UwsTypes.WebSocket<U>;
export type WebSocketBehavior<U> = UwsTypes.WebSocketBehavior<U>;
export type SocketContext = UwsTypes.us_socket_context_t;

const require = createRequire(import.meta.url);

interface Candidate {
  /** npm package name */
  pkg: string;
  /** path of the binary relative to the package's main entry's folder */
  binary: (abi: string) => string;
}

const CANDIDATES: Candidate[] = [
  { pkg: '@btc-vision/uwebsockets.js', binary: (abi) => `uws_${process.platform}_${process.arch}_${abi}.node` },
  {
    pkg: '@trufflesuite/uws-js-unofficial',
    // main is src/uws.js; binaries/ sits beside src/
    binary: (abi) => `../binaries/uws_${process.platform}_${process.arch}_${abi}.node`,
  },
];

export interface LoadedUws {
  uws: Uws;
  /** "package@version (binary file)" */
  build: string;
}

let loaded: LoadedUws | undefined;

/** loadUws returns the native uWS module, or throws an Error that lists why each candidate failed. */
export function loadUws(): LoadedUws {
  if (loaded) return loaded;
  const only = process.env.FULCRUM_UWS;
  const reasons: string[] = [];
  for (const c of CANDIDATES) {
    if (only && only !== c.pkg) continue;
    let file = '';
    try {
      const main = require.resolve(c.pkg);
      file = path.resolve(path.dirname(main), c.binary(process.versions.modules));
      const version = readVersion(c.pkg, main);
      const uws = require(file) as Uws;
      if (typeof uws.App !== 'function') throw new Error('binary loaded but exports no App()');
      loaded = { uws, build: `${c.pkg}@${version} (${path.basename(file)})` };
      return loaded;
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      reasons.push(`  - ${c.pkg}${file ? ` (${file})` : ''}: ${msg}`);
    }
  }
  throw new Error(
    `fulcrum: no native uWebSockets.js build loads on this machine (node ${process.version}, ` +
      `ABI ${process.versions.modules}, ${process.platform}-${process.arch}).\n` +
      `${reasons.join('\n') || '  - no candidate matched FULCRUM_UWS=' + only}\n` +
      `fulcrum never falls back to a pure-JS server. Install a build for this Node ABI.`,
  );
}

function readVersion(pkg: string, main: string): string {
  let dir = path.dirname(main);
  for (let i = 0; i < 4; i++) {
    try {
      const meta = require(path.join(dir, 'package.json')) as { name?: string; version?: string };
      if (meta.name === pkg) return meta.version ?? '?';
    } catch {
      /* keep walking up */
    }
    dir = path.dirname(dir);
  }
  return '?';
}
