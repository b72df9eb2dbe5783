/**
 * Freshness under load (issue 15, benchmark 1): webhook sent by the emulator -> change visible to a client on the
 * athlete's change stream (confirmed by the activities API), with the service as in production (API and worker
 * processes, Temporal dev server, PostgreSQL, the emulator over HTTP with large-app rate limits).
 *
 * One run measures, in order: the baseline (the known-good load, 20 activities/s across 40 athletes), the target
 * (100 new activities/s across 1,000 connected athletes for 3 minutes) and a ladder of higher rates that stops once
 * p99 crosses 1 s.
 *
 *   npx tsx bench/freshness/run.ts [--athletes 1000] [--rate 100] [--seconds 180]
 *     [--baseline-athletes 40] [--baseline-rate 20] [--baseline-seconds 30]
 *     [--ladder 150,200,300,400] [--ladder-seconds 20] [--temporal-store sqlite|memory] [--cpu-prof] [--write]
 *
 * DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) names the PostgreSQL server; a scratch
 * database is created and dropped. --write rewrites bench/freshness/RESULTS.md. Exits 1 when anything went missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker/workflows-path.js';
import { startStack, waitForImports } from '../lib/service-stack.js';
import { ChangeWatcher, describeStep, runStep, type StepResult } from './measure.js';

const { values } = parseArgs({
  options: {
    athletes: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '180' },
    'baseline-athletes': { type: 'string', default: '40' },
    'baseline-rate': { type: 'string', default: '20' },
    'baseline-seconds': { type: 'string', default: '30' },
    ladder: { type: 'string', default: '150,200,300,400' },
    'ladder-seconds': { type: 'string', default: '20' },
    'temporal-store': { type: 'string', default: 'sqlite' },
    'activities-per-athlete': { type: 'string', default: '2' },
    'cpu-prof': { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
});
const athletes = Number(values.athletes);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const baselineAthletes = Number(values['baseline-athletes']);
const baselineRate = Number(values['baseline-rate']);
const baselineSeconds = Number(values['baseline-seconds']);
const ladder = values.ladder ? values.ladder.split(',').map(Number).filter((n) => n > 0) : [];
const ladderSeconds = Number(values['ladder-seconds']);
const temporalStore = values['temporal-store'] === 'memory' ? 'memory' : 'sqlite';
const activitiesPerAthlete = Number(values['activities-per-athlete']);
const TARGET = { p50: 100, p99: 300 };
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = (line: string) => console.log(`[freshness +${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}`);
const t0 = performance.now();

function machine(): string {
  const free = (() => {
    try {
      return execFileSync('free', ['-g'], { encoding: 'utf8' }).split('\n')[1]?.trim().replace(/\s+/g, ' ') ?? '';
    } catch {
      return `${Math.round(totalmem() / 2 ** 30)} GiB`;
    }
  })();
  return `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, free -g: \`${free}\`, Node ${process.version}`;
}

const load = loadavg().map((n) => n.toFixed(2)).join(' ');
const dir = await mkdtemp(join(tmpdir(), 'freshness-bench-'));
const profileDir = values['cpu-prof'] ? join(dir, 'profiles') : undefined;
if (profileDir) await mkdir(profileDir);
const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
const bundlePath = join(dir, 'workflow-bundle.js');
await writeFile(bundlePath, bundle.code);

const stack = await startStack({
  dir,
  databaseServerUrl: serverUrl,
  workflowBundlePath: bundlePath,
  temporalStore,
  athletes: Math.max(athletes, baselineAthletes),
  activitiesPerAthlete,
  // An athlete here gets a fortnight's uploads in minutes; the per-athlete budget of event fetches (10, one more
  // per 10 min: a cap on what forged events cost) would defer most of them, which is policy, not freshness.
  env: { EVENT_FETCH_CAPACITY: '100000', EVENT_FETCH_REFILL: '1s' },
  ...(profileDir ? { cpuProfileDir: profileDir } : {}),
});
log(`stack up (temporal store: ${temporalStore}); logs in ${stack.processes.logFile}`);
const watcher = new ChangeWatcher(stack.apiUrl);
const steps: StepResult[] = [];
let onboarding = { athletes: 0, ms: 0 };
let rssAfter: Record<string, number> = {};
let failed = false;
try {
  const baselineIds = stack.athleteIds.slice(0, baselineAthletes);
  await stack.connect(baselineIds, 8);
  await waitForImports(stack.sql, baselineIds.length * activitiesPerAthlete, 120_000);
  log(`${baselineIds.length} athletes connected and imported`);
  // Warm-up (not recorded): the processes' code paths compiled, pools filled.
  await runStep(stack, watcher, { label: 'warm-up', athleteIds: baselineIds, rate: baselineRate / 2, seconds: 5 }, log);
  const baseline = await runStep(stack, watcher, { label: 'baseline', athleteIds: baselineIds, rate: baselineRate, seconds: baselineSeconds }, log);
  steps.push(baseline);
  log(describeStep(baseline));

  const rest = stack.athleteIds.slice(baselineAthletes, athletes);
  const onboardStart = performance.now();
  await stack.connect(rest, 8, (done) => done % 200 === 0 && log(`connected ${done} of ${rest.length}`));
  await waitForImports(stack.sql, athletes * activitiesPerAthlete, 300_000);
  onboarding = { athletes: rest.length, ms: performance.now() - onboardStart };
  log(`${athletes} athletes connected and imported (${rest.length} in ${(onboarding.ms / 1000).toFixed(1)} s)`);
  const fleet = stack.athleteIds.slice(0, athletes);
  await watcher.open(fleet);
  log(`${watcher.size} change streams open`);

  const target = await runStep(stack, watcher, { label: 'target', athleteIds: fleet, rate, seconds, graceMs: 90_000 }, log);
  steps.push(target);
  log(describeStep(target));
  for (const r of ladder) {
    const step = await runStep(stack, watcher, { label: `ladder ${r}/s`, athleteIds: fleet, rate: r, seconds: ladderSeconds }, log);
    steps.push(step);
    log(describeStep(step));
    if (!step.latency || step.latency.p99 > 1_000 || step.missing > 0) break;
  }
  rssAfter = await stack.rss();
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  watcher.close();
  await stack.stop();
}

const ms = (n: number | undefined) => (n === undefined ? '—' : `${Math.round(n)}`);
const cpuCell = (s: StepResult) => Object.entries(s.cpu).map(([k, v]) => `${k.split(' ')[0]} ${v.toFixed(0)}`).join(' / ');
const baseline = steps.find((s) => s.label === 'baseline');
const target = steps.find((s) => s.label === 'target');
const ladderSteps = steps.filter((s) => s.label.startsWith('ladder'));
const crossing = [target, ...ladderSteps].find((s) => s && (!s.latency || s.latency.p99 > 1_000));
const lastUnder = [target, ...ladderSteps].filter((s) => s && s.latency && s.latency.p99 <= 1_000).at(-1);
const missingTotal = steps.reduce((n, s) => n + s.missing, 0);
const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
const targetMet = target?.latency ? { p50: target.latency.p50 < TARGET.p50, p99: target.latency.p99 < TARGET.p99, none: target.missing === 0 } : undefined;
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? `${(a / b).toFixed(2)}x` : '—');

const lines = [
  `## Freshness under load, Temporal dev server on its ${temporalStore === 'sqlite' ? 'SQLite file' : 'in-memory store'}`,
  '',
  `Command: \`flock /tmp/bench.lock npx tsx bench/freshness/run.ts --athletes ${athletes} --rate ${rate} --seconds ${seconds} --baseline-athletes ${baselineAthletes} --baseline-rate ${baselineRate} --baseline-seconds ${baselineSeconds} --ladder ${ladder.join(',')} --ladder-seconds ${ladderSeconds} --temporal-store ${temporalStore}${values.write ? ' --write' : ''}\``,
  '',
  `Date: ${new Date().toISOString()}. Machine: ${machine()}; PostgreSQL on 127.0.0.1; load average at start ${load}. A shared`,
  'machine: other helpers\' compiles and tests may have run at the same time (the measurement held /tmp/bench.lock).',
  '',
  'Setup: the API (`strava-sync api`) and one worker as separate processes, the Temporal dev server (' +
    (temporalStore === 'sqlite' ? 'its single-file SQLite store' : 'in-memory store') +
    '), a scratch database on the local PostgreSQL, the emulator over HTTP in the benchmark process with large-app limits ' +
    '(60,000 reads / 15 min, 600,000 / day, told to the service). Athletes connect through the real OAuth flow (each with ' +
    `${activitiesPerAthlete} activities imported). Every connected athlete has its change stream open (\`GET /athletes/:id/events\`, the ` +
    'project\'s client library). Activities are created in the emulator on an open-loop schedule, round robin over the athletes; ' +
    'latency is from the emulator sending the webhook (first POST attempt) to the change arriving on the stream; each ' +
    'activity is then fetched through `GET /athletes/:id/activities` (confirmation). `EVENT_FETCH_CAPACITY=100000`: an ' +
    'athlete here uploads weeks of activities in minutes, which the per-athlete event-fetch budget (10, one per 10 min) ' +
    'would defer by design.',
  '',
  `**Target (${target ? `${target.athletes} athletes, ${target.rate}/s for ${target.seconds} s` : 'not reached'}): p50 < ${TARGET.p50} ms ${targetMet ? verdict(targetMet.p50) : '—'}, ` +
    `p99 < ${TARGET.p99} ms ${targetMet ? verdict(targetMet.p99) : '—'}, nothing missing ${targetMet ? verdict(targetMet.none) : '—'}.**` +
    (failed ? ' The run failed before the end (see the console output).' : ''),
  '',
  '| step | athletes | offered / achieved rate | activities | seen / confirmed / missing | p50 ms | p90 ms | p99 ms | max ms | p50 / p99 vs baseline | confirmed by the API: p50 / p99 ms | CPU % api / worker / temporal / postgres / bench |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...steps.map(
    (s) =>
      `| ${s.label} | ${s.athletes} | ${s.rate}/s / ${s.achievedRate.toFixed(1)}/s for ${s.seconds} s | ${s.created} | ${s.seen} / ${s.confirmed} / ${s.missing} | ${ms(s.latency?.p50)} | ${ms(s.latency?.p90)} | ${ms(s.latency?.p99)} | ${ms(s.latency?.max)} | ` +
      `${s === baseline ? '1 / 1' : `${ratio(s.latency?.p50, baseline?.latency?.p50)} / ${ratio(s.latency?.p99, baseline?.latency?.p99)}`} | ${ms(s.confirmLatency?.p50)} / ${ms(s.confirmLatency?.p99)} | ${cpuCell(s)} |`,
  ),
  '',
  'Where the time goes, p50 / p99 ms per stage (PostgreSQL transaction start times: inbox row written, relay claim, activity row written):',
  '',
  `| step | ${Object.keys(steps[0]?.stages ?? {}).join(' | ')} |`,
  `|---|${Object.keys(steps[0]?.stages ?? {}).map(() => '---').join('|')}|`,
  ...steps.map((s) => `| ${s.label} | ${Object.values(s.stages).map((v) => (v ? `${ms(v.p50)} / ${ms(v.p99)}` : '—')).join(' | ')} |`),
  '',
  `Missing: not on the stream and confirmed within the grace period after the last create (30 s; 90 s after the target step).`,
  '',
  `Rate at which p99 crosses 1 s: ${crossing ? `${crossing.rate}/s (p99 ${ms(crossing.latency?.p99)} ms)` : `not reached up to ${[target, ...ladderSteps].at(-1)?.rate ?? '—'}/s`}` +
    `${lastUnder ? `; last rate under 1 s: ${lastUnder.rate}/s (p99 ${ms(lastUnder.latency?.p99)} ms)` : ''}. Missing in all steps: ${missingTotal}.`,
  '',
  `Onboarding: ${onboarding.athletes} athletes connected through OAuth (8 at a time) and imported in ${(onboarding.ms / 1000).toFixed(1)} s ` +
    `(${onboarding.ms ? (onboarding.athletes / (onboarding.ms / 1000)).toFixed(1) : '—'} athletes/s). RSS at the end (MiB): ${Object.entries(rssAfter).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}.`,
  '',
];
console.log(`\n${lines.join('\n')}`);
if (values.write) {
  // One section per Temporal store, so a run on the other store keeps this one's result beside it.
  const file = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
  const begin = `<!-- store:${temporalStore} -->`;
  const end = `<!-- /store:${temporalStore} -->`;
  const section = `${begin}\n${lines.join('\n')}\n${end}`;
  const old = await readFile(file, 'utf8').catch(() => '');
  const at = old.indexOf(begin);
  const text = at >= 0 ? old.slice(0, at) + section + old.slice(old.indexOf(end) + end.length) : `${old.trimEnd()}${old ? '\n\n' : ''}${section}\n`;
  await writeFile(file, text);
}
if (profileDir) console.log(`CPU profiles (API and worker) in ${profileDir}`);
else await rm(dir, { recursive: true, force: true });
process.exitCode = failed || missingTotal > 0 ? 1 : 0;
