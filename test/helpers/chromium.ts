/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium (scripts/ensure-test-deps.sh
 * installs it) driven by playwright-core, each launch with a fresh profile directory, removed on
 * close. A browser test passes chromiumSkip as its skip option, so it skips with the reason where
 * Chromium is missing.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContextOptions, Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/** The skip option of a test that needs Chromium: false, or why it cannot run here. */
export const chromiumSkip: false | string = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh as root)`;

/** The flags every browser test runs with: no sandbox, GPU, first-run page or background traffic. */
const BASE_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Chromium {
  newPage(): Promise<Page>;
  /** close ends the browser and removes its profile directory. */
  close(): Promise<void>;
}

/**
 * launchChromium starts headless Chromium with BASE_ARGS and `args` after them; `options` are
 * playwright's for the context (viewport, ignoreHTTPSErrors).
 */
export async function launchChromium(args: string[] = [], options: BrowserContextOptions = {}): Promise<Chromium> {
  // imported here, so that a file whose browser test skips never loads playwright
  const { chromium } = await import('playwright-core');
  // a fresh profile directory (playwright passes it as --user-data-dir)
  const profile = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-chromium-'));
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  try {
    const context = await chromium.launchPersistentContext(profile, { ...options, executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...args] });
    return {
      newPage: () => context.newPage(),
      close: async () => {
        await context.close();
        removeProfile();
      },
    };
  } catch (err) {
    removeProfile();
    throw err;
  }
}
