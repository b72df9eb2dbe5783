/**
 * The Chromium the browser tests drive: CHROMIUM_PATH, else the Debian/Ubuntu package's binary. Without one the
 * browser tests are skipped with one line saying how to enable them, unless REQUIRE_BROWSER_TESTS=1 (CI) makes
 * a missing browser a failure.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'vitest';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export type ChromiumLookup = { found: true; path: string } | { found: false; reason: string };

export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumLookup {
  const given = env.CHROMIUM_PATH;
  if (given) return executable(given) ? { found: true, path: given } : { found: false, reason: `CHROMIUM_PATH=${given} is not an executable file` };
  const path = CANDIDATES.find(executable);
  return path ? { found: true, path } : { found: false, reason: `no Chromium at ${CANDIDATES.join(' or ')}` };
}

const HOW_TO_ENABLE = 'install it (apt-get install chromium) or set CHROMIUM_PATH=/path/to/chromium';
const warned = new Set<string>();

/**
 * it() for a test that needs Chromium: the test receives the executable path. Missing browser: skipped with one
 * line on the console, or failed with the same words when REQUIRE_BROWSER_TESTS=1.
 */
export function browserTest(name: string, fn: (chromiumPath: string) => Promise<void>, timeoutMs?: number): void {
  const chromium = findChromium();
  if (chromium.found) {
    it(name, () => fn(chromium.path), timeoutMs);
    return;
  }
  const message = `browser tests skipped: ${chromium.reason}; ${HOW_TO_ENABLE}`;
  if (process.env.REQUIRE_BROWSER_TESTS === '1') {
    it(name, () => {
      throw new Error(`REQUIRE_BROWSER_TESTS=1 but ${chromium.reason}; ${HOW_TO_ENABLE}`);
    });
    return;
  }
  if (!warned.has(message)) {
    warned.add(message);
    console.warn(message);
  }
  it.skip(name, () => {});
}

/**
 * Where browser tests save screenshots: TEST_OUTPUT_DIR, else test-output/ in the checkout (git-ignored), in a
 * folder per test file. Returns the path for `name` (a .png file name), creating the folder.
 */
export function screenshotPath(folder: string, name: string): string {
  const root = process.env.TEST_OUTPUT_DIR ?? fileURLToPath(new URL('../../test-output/', import.meta.url));
  const dir = join(root, 'screenshots', folder);
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
