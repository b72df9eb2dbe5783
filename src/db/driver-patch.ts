import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * postgres.js 3.4.9 as published cannot survive a connection that drops while a transaction holds it: the next
 * write on it throws from a setImmediate (the process dies), and bytes left buffered for the dead socket prefix
 * every later startup message on that connection (CONNECT_TIMEOUT forever). Upstream: porsager/postgres#1154,
 * #1208, fixes proposed in #1168/#1209, unreleased. patches/postgres+3.4.9.patch (applied by patch-package at
 * install) rejects such writes with CONNECTION_CLOSED and clears the buffer when a socket closes.
 *
 * An install that skipped the patch (`npm ci --ignore-scripts` without `npx patch-package`) would bring the
 * crash back at the first PostgreSQL blip, which is the worst moment to learn of it; so say so at start.
 */
const MARKER = 'strava-sync patch';
let checked = false;

export function assertDriverPatched(): void {
  if (checked) return;
  const require = createRequire(import.meta.url);
  // The package's default export is cjs/src/index.js; its exports map hides package.json.
  const root = join(dirname(require.resolve('postgres')), '..', '..');
  for (const flavour of ['src', join('cjs', 'src')]) {
    if (!readFileSync(join(root, flavour, 'connection.js'), 'utf8').includes(MARKER)) {
      throw new Error(
        `postgres.js in ${root} is not patched (patches/postgres+3.4.9.patch): run \`npm install\` or \`npx patch-package\``,
      );
    }
  }
  checked = true;
}
