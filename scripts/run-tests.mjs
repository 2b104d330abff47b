#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Usage: node scripts/run-tests.mjs [filter...]   (filter: substring of the file path)
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dir = path.join(root, 'dist', 'test');
// any number of filters: a file runs when its path under dist/test contains one of them (none: every file)
const filters = process.argv.slice(2);
const files = [];
(function walk(d) {
  for (const name of readdirSync(d).sort()) {
    const p = path.join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && (filters.length === 0 || filters.some((f) => path.relative(dir, p).includes(f)))) files.push(p);
  }
})(dir);
if (!files.length) {
  console.error(`no test files found under ${dir}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
// the spec reporter as the tests run, then a summary naming every skipped test with its reason
const reporters = [
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${path.join(root, 'scripts', 'test-summary.mjs')}`,
  '--test-reporter-destination=stdout',
];
const r = spawnSync(process.execPath, ['--test', ...reporters, ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
