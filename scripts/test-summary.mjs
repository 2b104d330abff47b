// A node:test reporter that prints, after the run, the counts and every skipped test with its
// reason (and every failed one by name), so that a run on a machine that lacks something says
// exactly what it did not test. Used by scripts/run-tests.mjs beside the spec reporter.
import path from 'node:path';

export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  const skipped = [];
  const failures = [];
  const todo = [];
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const d = ev.data;
    // suites report too (details.type === 'suite'); count only their skips and failures of their own
    const isSuite = d.details?.type === 'suite';
    const where = d.file ? path.relative(process.cwd(), d.file) : '';
    if (d.skip !== undefined) skipped.push(`${d.name}${isSuite ? ' (whole suite)' : ''} [${where}]: ${d.skip === true ? 'no reason given' : d.skip}`);
    else if (d.todo !== undefined) todo.push(`${d.name} [${where}]`);
    else if (ev.type === 'test:fail') {
      if (!isSuite) {
        failed++;
        failures.push(`${d.name} [${where}]`);
      }
    } else if (!isSuite) passed++;
  }
  let out = `\n== test summary: ${passed} passed, ${failed} failed, ${skipped.length} skipped ==\n`;
  for (const s of skipped) out += `  skipped: ${s}\n`;
  for (const t of todo) out += `  todo: ${t}\n`;
  for (const f of failures) out += `  FAILED: ${f}\n`;
  yield out;
}
