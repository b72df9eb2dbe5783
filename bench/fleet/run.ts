/**
 * Fleet on one box (issue 15, benchmark 3): N athletes connected through the real path (the API's OAuth flow, which
 * starts each athlete's workflow), most of them idle. Measures the time to start them all, the worker's and the
 * Temporal dev server's RSS and CPU at rest and under 50 events/s on the 2 % that are active, and then keeps
 * connecting more athletes (towards 50,000) until a time bound or a failure, to find where the box stops.
 *
 *   npx tsx bench/fleet/run.ts [--athletes 10000] [--push-to 50000] [--push-seconds 150] [--rate 50]
 *     [--event-seconds 30] [--rest-seconds 20] [--concurrency 16] [--temporal-store memory|sqlite] [--write]
 *
 * Each run is bounded: connecting stops at --connect-seconds even if N is not reached (the rate is reported).
 * --write replaces this store's section of bench/fleet/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker/workflows-path.js';
import { ChangeWatcher, runStep, type StepResult } from '../freshness/measure.js';
import { startStack } from '../lib/service-stack.js';
import { atRest, connectBounded, fmtRecord, runningWorkflows, settle } from './measure.js';

const { values } = parseArgs({
  options: {
    athletes: { type: 'string', default: '10000' },
    'push-to': { type: 'string', default: '50000' },
    'push-seconds': { type: 'string', default: '150' },
    'connect-seconds': { type: 'string', default: '420' },
    rate: { type: 'string', default: '50' },
    'event-seconds': { type: 'string', default: '30' },
    'rest-seconds': { type: 'string', default: '20' },
    'settle-seconds': { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    'temporal-store': { type: 'string', default: 'memory' },
    write: { type: 'boolean', default: false },
  },
});
const target = Number(values.athletes);
const pushTo = Math.max(target, Number(values['push-to']));
const pushSeconds = Number(values['push-seconds']);
const connectSeconds = Number(values['connect-seconds']);
const eventRate = Number(values.rate);
const eventSeconds = Number(values['event-seconds']);
const restSeconds = Number(values['rest-seconds']);
const settleSeconds = Number(values['settle-seconds']);
const concurrency = Number(values.concurrency);
const temporalStore = values['temporal-store'] === 'sqlite' ? 'sqlite' : 'memory';
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const t0 = performance.now();
const log = (line: string) => console.log(`[fleet +${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-'));
const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
const bundlePath = join(dir, 'workflow-bundle.js');
await writeFile(bundlePath, bundle.code);
const stack = await startStack({
  dir,
  databaseServerUrl: serverUrl,
  workflowBundlePath: bundlePath,
  temporalStore,
  athletes: pushTo,
  // Idle athletes with an empty history: the import is one list call; what is measured is the fleet's cost.
  activitiesPerAthlete: 0,
  readLimit: { fifteenMinute: 600_000, daily: 6_000_000 },
  env: { EVENT_FETCH_CAPACITY: '1000', EVENT_FETCH_REFILL: '1s', DATABASE_POOL_SIZE: '20' },
});
log(`stack up (temporal store ${temporalStore}), ${stack.athleteIds.length} athletes in the emulator; logs in ${stack.processes.logFile}`);
const connection = await Connection.connect({ address: stack.env.TEMPORAL_ADDRESS! });
const client = new Client({ connection });
const result: {
  empty?: Record<string, number>;
  onboard?: Awaited<ReturnType<typeof connectBounded>>;
  started?: number;
  settled?: { ms: number; idle: number };
  restRss?: Record<string, number>;
  restCpu?: Record<string, number>;
  events?: StepResult;
  eventsRss?: Record<string, number>;
  push?: Awaited<ReturnType<typeof connectBounded>>;
  pushStarted?: number;
  pushRss?: Record<string, number>;
  error?: string;
} = {};
const watcher = new ChangeWatcher(stack.apiUrl);
try {
  result.empty = await stack.rss();
  const ids = stack.athleteIds.slice(0, target);
  result.onboard = await connectBounded(stack, ids, { seconds: connectSeconds, startCount: 0, concurrency, log });
  log(`onboarding: ${result.onboard.connected} in ${(result.onboard.ms / 1000).toFixed(1)} s, failures ${result.onboard.failures.length}`);
  // Every connected athlete's workflow runs (started through the OAuth callback).
  const deadline = Date.now() + 60_000;
  do {
    result.started = await runningWorkflows(client);
    if (result.started >= result.onboard.connected) break;
    await sleep(1_000);
  } while (Date.now() < deadline);
  log(`running workflows: ${result.started}`);
  result.settled = await settle(stack, result.onboard.connected, settleSeconds);
  log(`settled: ${result.settled.idle} idle ${(result.settled.ms / 1000).toFixed(1)} s after the last connect`);
  result.restCpu = await atRest(stack, restSeconds);
  result.restRss = await stack.rss();
  log(`at rest: CPU ${fmtRecord(result.restCpu)} %, RSS ${fmtRecord(result.restRss)} MiB`);
  // 2 % active: the events go to them (their change streams open).
  const connectedIds = ids.slice(0, result.onboard.connected);
  const active = connectedIds.filter((_, i) => i % 50 === 0);
  result.events = await runStep(stack, watcher, { label: `${eventRate}/s on ${active.length} active`, athleteIds: active, rate: eventRate, seconds: eventSeconds, graceMs: 60_000 });
  result.eventsRss = await stack.rss();
  log(`events: p50 ${result.events.latency?.p50} ms, p99 ${result.events.latency?.p99} ms, missing ${result.events.missing}; CPU ${fmtRecord(result.events.cpu)} %`);
  watcher.close();
  if (pushTo > result.onboard.connected && pushSeconds > 0) {
    result.push = await connectBounded(stack, stack.athleteIds.slice(result.onboard.connected, pushTo), { seconds: pushSeconds, startCount: result.onboard.connected, concurrency, log });
    result.pushStarted = await runningWorkflows(client);
    result.pushRss = await stack.rss();
    log(`push: ${result.onboard.connected + result.push.connected} connected, ${result.pushStarted} running, failures ${result.push.failures.length}`);
  }
} catch (error) {
  result.error = error instanceof Error ? error.stack ?? error.message : String(error);
  console.error(error);
} finally {
  watcher.close();
  await connection.close();
  await stack.stop();
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (r: Record<string, number> | undefined, k: string) => (r?.[k] !== undefined ? `${r[k]!.toFixed(0)} MiB` : '—');
const pct = (r: Record<string, number> | undefined, k: string) => (r?.[k] !== undefined ? `${r[k]!.toFixed(0)} %` : '—');
const onboard = result.onboard;
const perWorkflowKib = onboard && result.restRss && result.empty && onboard.connected > 0 ? ((result.restRss.worker! - result.empty.worker!) * 1024) / onboard.connected : undefined;
const temporalPerWorkflowKib = onboard && result.restRss && result.empty && onboard.connected > 0 ? ((result.restRss.temporal! - result.empty.temporal!) * 1024) / onboard.connected : undefined;
const pushTotal = (onboard?.connected ?? 0) + (result.push?.connected ?? 0);
const allSamples = [...(onboard?.samples ?? []), ...(result.push?.samples ?? [])];
const lines = [
  `## Fleet on one box, Temporal dev server on its ${temporalStore === 'sqlite' ? 'SQLite file' : 'in-memory store'}`,
  '',
  `Command: \`flock /tmp/bench.lock npx tsx bench/fleet/run.ts --athletes ${target} --push-to ${pushTo} --push-seconds ${pushSeconds} --connect-seconds ${connectSeconds} --rate ${eventRate} --event-seconds ${eventSeconds} --rest-seconds ${restSeconds} --settle-seconds ${settleSeconds} --concurrency ${concurrency} --temporal-store ${temporalStore}${values.write ? ' --write' : ''}\``,
  '',
  `Date: ${new Date().toISOString()}. Machine: ${machine()}; PostgreSQL on 127.0.0.1; load average at start ${load}. A shared machine: other`,
  'helpers\' compiles and tests may have run at the same time (the measurement held /tmp/bench.lock).',
  '',
  `Setup: as bench/freshness (API and one worker as processes, the dev server, PostgreSQL, the emulator over HTTP). ${pushTo.toLocaleString('en')} athletes created in the emulator at start-up ` +
    '(its bulk creation, empty histories); each connects through the API\'s OAuth flow (its browser named by X-Forwarded-For), which starts its workflow; ' +
    `${concurrency} connects in flight. Worker cache: the default (\`WORKER_MAX_CACHED_WORKFLOWS\` unset: half the machine's memory at 0.5 MiB each, ~${Math.floor((0.5 * totalmem()) / 2 ** 19).toLocaleString('en')} here).`,
  '',
  '| measure | value |',
  '|---|---|',
  `| athletes connected / workflows running | ${onboard?.connected ?? 0} of ${target} / ${result.started ?? '—'} |`,
  `| time to connect and start them (baseline: nothing) | ${onboard ? `${s(onboard.ms)} (${(onboard.connected / (onboard.ms / 1000)).toFixed(1)} athletes/s)` : '—'}${onboard?.failures.length ? `; ${onboard.failures.length} failures: ${onboard.failures.slice(0, 3).join('; ')}` : ''} |`,
  `| every connected athlete idle (import listed, first backfill planned) after the last connect | ${result.settled ? `${s(result.settled.ms)}${result.settled.idle < (onboard?.connected ?? 0) ? ` (bound reached: ${result.settled.idle} idle)` : ''}` : '—'} |`,
  `| RSS, worker / API / dev server: empty (baseline) | ${mib(result.empty, 'worker')} / ${mib(result.empty, 'api')} / ${mib(result.empty, 'temporal')} |`,
  `| RSS at rest with the fleet | ${mib(result.restRss, 'worker')} / ${mib(result.restRss, 'api')} / ${mib(result.restRss, 'temporal')} |`,
  `| per connected athlete: worker / dev server | ${perWorkflowKib?.toFixed(0) ?? '—'} KiB / ${temporalPerWorkflowKib?.toFixed(0) ?? '—'} KiB |`,
  `| CPU at rest (${restSeconds} s), worker / API / dev server / PostgreSQL | ${pct(result.restCpu, 'worker')} / ${pct(result.restCpu, 'api')} / ${pct(result.restCpu, 'temporal')} / ${pct(result.restCpu, 'postgres')} |`,
  `| ${eventRate} events/s for ${eventSeconds} s on ${result.events?.athletes ?? '—'} active athletes: CPU worker / API / dev server / PostgreSQL | ${pct(result.events?.cpu, 'worker')} / ${pct(result.events?.cpu, 'api')} / ${pct(result.events?.cpu, 'temporal')} / ${pct(result.events?.cpu, 'postgres')} |`,
  `| same: webhook sent -> change on the stream p50 / p99; missing | ${result.events?.latency ? `${result.events.latency.p50} ms / ${result.events.latency.p99} ms` : '—'}; ${result.events?.missing ?? '—'} |`,
  `| RSS after the events, worker / dev server | ${mib(result.eventsRss, 'worker')} / ${mib(result.eventsRss, 'temporal')} |`,
  `| push towards ${pushTo.toLocaleString('en')} (${pushSeconds} s bound): connected / running | ${result.push ? `${pushTotal} / ${result.pushStarted}; ${(result.push.connected / (result.push.ms / 1000)).toFixed(1)} athletes/s; failures ${result.push.failures.length}${result.push.failures.length ? ` (${result.push.failures.slice(0, 2).join('; ')})` : ''}` : '—'} |`,
  `| RSS at the end, worker / API / dev server | ${mib(result.pushRss, 'worker')} / ${mib(result.pushRss, 'api')} / ${mib(result.pushRss, 'temporal')} |`,
  ...(result.error ? [`| error | ${result.error.split('\n')[0]} |`] : []),
  '',
  'Connect rate, RSS (MiB) and CPU (% of one core) every 10 s while connecting:',
  '',
  '| s | connected | athletes/s | RSS worker / api / temporal | CPU worker / api / temporal / postgres / bench |',
  '|---|---|---|---|---|',
  ...allSamples.map((x) => `| ${x.atS.toFixed(0)} | ${x.connected} | ${x.rate.toFixed(1)} | ${x.rss.worker?.toFixed(0)} / ${x.rss.api?.toFixed(0)} / ${x.rss.temporal?.toFixed(0)} | ${x.cpu.worker?.toFixed(0)} / ${x.cpu.api?.toFixed(0)} / ${x.cpu.temporal?.toFixed(0)} / ${x.cpu.postgres?.toFixed(0)} / ${x.cpu['bench (emulator, clients)']?.toFixed(0)} |`),
  '',
];
const text = lines.join('\n');
console.log(`\n${text}`);
if (values.write) {
  const file = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
  const begin = `<!-- store:${temporalStore} -->`;
  const end = `<!-- /store:${temporalStore} -->`;
  const section = `${begin}\n${text}\n${end}`;
  const old = await readFile(file, 'utf8').catch(() => '');
  const at = old.indexOf(begin);
  await writeFile(file, at >= 0 ? old.slice(0, at) + section + old.slice(old.indexOf(end) + end.length) : `${old.trimEnd()}${old ? '\n\n' : ''}${section}\n`);
}
await rm(dir, { recursive: true, force: true });
process.exitCode = result.error || (onboard && result.started !== undefined && result.started < onboard.connected) || (result.events?.missing ?? 0) > 0 ? 1 : 0;
