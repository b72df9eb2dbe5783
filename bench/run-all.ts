/**
 * `npm run bench` runs every benchmark one after another (they would distort each other in parallel) and
 * rewrites each RESULTS.md; `npm run bench -- <name> [<name> ...]` runs only those (names below).
 */
import { spawnSync } from 'node:child_process';

interface Bench {
  script: string;
  args: string[];
  /** Extra flags for node itself (the memory benchmark forces collections). */
  nodeArgs?: string[];
}

const BENCHES: Record<string, Bench> = {
  emulator: { script: 'bench/emulator/run.ts', args: ['--write'] },
  strava: { script: 'bench/strava/run.ts', args: ['--write'] },
  api: { script: 'bench/api/webhooks.ts', args: [] },
  'fleet-sim': { script: 'bench/fleet-sim/run.ts', args: ['--write'] },
  'worker-cache': { script: 'bench/worker-cache/run.ts', args: ['--write'], nodeArgs: ['--expose-gc'] },
  chaos: { script: 'bench/chaos/run.ts', args: ['--write'] },
  freshness: { script: 'bench/freshness/run.ts', args: ['--write'] },
  fleet: { script: 'bench/fleet/run.ts', args: ['--write'] },
  naive: { script: 'bench/naive/run.ts', args: ['--write'] },
  imports: { script: 'bench/imports/run.ts', args: ['--write'] },
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}

for (const name of requested.length > 0 ? requested : Object.keys(BENCHES)) {
  const { script, args, nodeArgs = [] } = BENCHES[name]!;
  console.log(`\n=== ${name}: ${script} ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${name} (${script}) failed (exit ${result.status})`);
    process.exit(1);
  }
}
