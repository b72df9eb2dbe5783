/**
 * `npm run bench`: runs every benchmark one after another (they would distort each other in parallel) and
 * rewrites each RESULTS.md.
 */
import { spawnSync } from 'node:child_process';

const BENCHES: [string, string[]][] = [
  ['bench/emulator/run.ts', ['--write']],
  ['bench/strava/run.ts', ['--write']],
  ['bench/api/webhooks.ts', []],
  ['bench/fleet-sim/run.ts', ['--write']],
  ['bench/chaos/run.ts', ['--write']],
];

for (const [script, args] of BENCHES) {
  console.log(`\n=== ${script} ${args.join(' ')}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${script} failed (exit ${result.status})`);
    process.exit(1);
  }
}
