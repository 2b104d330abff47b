/**
 * Shrinks an installed node_modules for one machine (the container image's build stage): the two
 * uWebSockets.js packages ship native binaries for every platform and Node ABI (about 220 MB of
 * a 245 MB production node_modules), and a machine can load at most one of each. Keeps
 * `uws_<platform>_<arch>_<abi>.node` of this Node where it loads here (the build stage has the
 * final image's glibc), deletes every other `.node` file of those packages, then checks that
 * src/uws.ts still finds a build, and fails the build otherwise.
 *
 * Usage (after `npm run build:dist`): node dist/scripts/prune-uws.js [node_modules dir]
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { loadUws } from '../src/uws.js';

/** the packages src/uws.ts loads its binaries from */
const PACKAGES = ['@btc-vision/uwebsockets.js', '@trufflesuite/uws-js-unofficial'];

const require = createRequire(import.meta.url);

function nativeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...nativeFiles(p));
    else if (e.name.endsWith('.node')) out.push(p);
  }
  return out;
}

function main(): void {
  const modules = path.resolve(process.argv[2] ?? 'node_modules');
  const wanted = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  let freed = 0;
  for (const pkg of PACKAGES) {
    const dir = path.join(modules, pkg);
    let files: string[];
    try {
      files = nativeFiles(dir);
    } catch {
      continue; // optional dependency not installed
    }
    // the loader takes binaries/ (trufflesuite) or the package root (btc-vision); dist/ holds copies
    const keep = files.filter((f) => {
      if (path.basename(f) !== wanted || f.split(path.sep).includes('dist')) return false;
      try {
        require(f);
        return true;
      } catch (err) {
        process.stderr.write(`prune-uws: ${pkg}: ${wanted} does not load here (${(err as Error).message.split('\n')[0]}); removed\n`);
        return false;
      }
    });
    for (const f of files) {
      if (keep.includes(f)) continue;
      freed += statSync(f).size;
      rmSync(f);
    }
    process.stdout.write(`prune-uws: ${pkg}: kept ${keep.map((f) => path.relative(dir, f)).join(', ') || 'no binary'}\n`);
  }
  process.stdout.write(`prune-uws: removed ${(freed / 2 ** 20).toFixed(1)} MiB of binaries for other platforms and Node ABIs\n`);
  // the same lookup fulcrum does at start
  process.stdout.write(`prune-uws: fulcrum loads ${loadUws().build}\n`);
}

main();
