#!/usr/bin/env node
import('../dist/src/cli.js')
  .then((m) => m.main(process.argv.slice(2)))
  .catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist')) {
      console.error('fulcrum: not built yet; run `npm ci` (or `npm run build`) first');
    } else {
      console.error(err);
    }
    process.exit(1);
  });
