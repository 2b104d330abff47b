/**
 * watchConfig calls onChange when the config file's content changes (`fulcrum start --watch`, as
 * Caddy's `run --watch`). It watches the directory, not the file, because editors and config
 * management replace a file by renaming a new one over it; changes are debounced and a save that
 * leaves the content as it was is ignored.
 */
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { log } from '../log.js';

const DEBOUNCE_MS = 250;

function digest(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}

export function watchConfig(file: string, onChange: () => void): { close(): void } {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let last = digest(file);
  let timer: NodeJS.Timeout | null = null;
  let w: FSWatcher;
  try {
    w = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        const now = digest(file);
        if (now === '' || now === last) return; // gone for a moment (being replaced), or unchanged
        last = now;
        onChange();
      }, DEBOUNCE_MS);
    });
  } catch (err) {
    log.error('cannot watch the config file; reload with SIGHUP or POST /reload', { config: file, error: (err as Error).message });
    return { close() {} };
  }
  log.info('watching the config file for changes', { config: file });
  return {
    close() {
      if (timer) clearTimeout(timer);
      w.close();
    },
  };
}
