/**
 * strava-sync and the naive design (bench/naive/app.ts) side by side on the same emulator scenario: N athletes
 * with a history, a day of activity (bench/naive/day.ts) compressed into dayMs of wall time, 10 % of webhooks
 * dropped, one forced 429 burst and one 5xx period at the same moments of the day. The emulator serves one
 * application and one push subscription, so the two designs run one after the other, each against a fresh
 * emulator started from the same seed and played the same plan.
 *
 * Compression: the emulator's clock runs at real speed (its 15-minute rate windows must agree with the clock the
 * service plans its budget on), and everything that is a period of the day is divided by the compression factor
 * F = 24 h / dayMs: the naive cron (3 h), strava-sync's BACKFILL_INTERVAL (3 h), access-token lifetime (6 h)
 * and the refresh margin (5 min). Rate limits are a large app's, so neither design is refused outside the
 * forced burst; the request counts say what each would take from a budget.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../../src/db/migrate.js';
import { connectThroughOAuth } from '../../src/dev/oauth-connect.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import type { Counters } from '../../src/emulator/counters.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { ServiceProcesses } from '../../test/chaos/processes.js';
import { divergences, storedRows, summarize } from '../../test/chaos/truth.js';
import { NaiveApp } from './app.js';
import { createScratchDatabase } from '../lib/scratch-database.js';
import { FreshnessTracker, planDay, playDay, type FreshnessResult, type PlannedChange, type StoredActivity } from './day.js';

export interface NaiveBenchSize {
  athletes: number;
  activitiesPerAthlete: number;
  changes: number;
  /** The day, compressed into this much wall time. */
  dayMs: number;
  /** Time given to the API and worker restart (with the shifted clock) before the day starts. */
  restartAllowanceMs: number;
}

export const FULL_SIZE: NaiveBenchSize = { athletes: 100, activitiesPerAthlete: 60, changes: 300, dayMs: 120_000, restartAllowanceMs: 25_000 };
export const SMOKE_SIZE: NaiveBenchSize = { athletes: 6, activitiesPerAthlete: 20, changes: 30, dayMs: 10_000, restartAllowanceMs: 8_000 };

const DAY_MS = 86_400_000;
const READ_LIMIT_15MIN = 30_000;
const WINDOW_MS = 15 * 60_000;
const ADMIN_KEY = 'naive-bench-admin-key-0123456789';
/** Where in the day the forced 429 burst and the 5xx period start, and how long they last (fractions of the day). */
const BURST_AT = 0.4;
const ERRORS_AT = 0.7;
const ERROR_RATE = 0.5;
/** The forced 429 burst: 6 % of the day (86 min), at least 3 s of wall time. */
const burstMs = (size: NaiveBenchSize) => Math.max(3_000, Math.round(0.06 * size.dayMs));
/** The 5xx period: 6 % of the day, at least 2 s of wall time. */
export const errorsMs = (size: NaiveBenchSize) => Math.max(2_000, Math.round(0.06 * size.dayMs));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Compression {
  factor: number;
  cronMs: number;
  tokenTtlS: number;
  refreshMarginMs: number;
  /** After the day: one more cron period, so each design gets its periodic pass over the last changes. */
  graceMs: number;
  /** After the end state is taken: how long to keep watching for the database to converge. */
  extraMs: number;
}

export function compression(size: NaiveBenchSize): Compression {
  const factor = DAY_MS / size.dayMs;
  const cronMs = Math.round((3 * 3_600_000) / factor);
  return { factor, cronMs, tokenTtlS: Math.max(3, Math.round(21_600 / factor)), refreshMarginMs: Math.max(100, Math.round(300_000 / factor)), graceMs: cronMs, extraMs: 3 * cronMs };
}

export interface SideReport {
  design: 'strava-sync' | 'naive';
  setupMs: number;
  /** Requests to /api/v3 during setup (connect and history import). */
  importRequests: number;
  /** During the day and the grace period after it. */
  requests: { api: number; list: number; detail: number; other: number; tokenCalls: number };
  rateLimited: { total: number; forced: number };
  serverErrors: number;
  webhooks: { events: number; dropped: number; delivered: number; failed: number };
  burst: { startMs: number; lengthMs: number };
  end: { missing: number; stale: number; extra: number; staleFields: Record<string, number> };
  /** The same, after extraMs more with nothing changing; convergedAfterMs: when it reached zero (null: not in time). */
  afterExtra: { missing: number; stale: number; extra: number; convergedAfterMs: number | null };
  freshness: FreshnessResult;
  notes: string[];
}

export interface NaiveBenchReport {
  seed: number;
  size: NaiveBenchSize;
  compression: Compression;
  changes: Record<string, number>;
  strava: SideReport;
  naive: SideReport;
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

function emulatorOptions(size: NaiveBenchSize, seed: number, c: Compression, startTimeMs: number) {
  return {
    seed,
    athletes: size.athletes,
    activitiesPerAthlete: size.activitiesPerAthlete,
    historyYears: 0.25,
    // A large app's 15-minute limit, and a daily limit that is 96 such windows: strava-sync's backfill planner
    // weighs its intervals against the daily budget of a real day, and the compressed 3 h interval is a real
    // 15 s one. Nobody is refused outside the forced burst.
    rateLimits: { read: { fifteenMinute: READ_LIMIT_15MIN, daily: 96 * READ_LIMIT_15MIN }, overall: { fifteenMinute: 2 * READ_LIMIT_15MIN, daily: 192 * READ_LIMIT_15MIN } },
    // The naive design refreshes before every call, concurrently: with rotation on every refresh its own races
    // would revoke its refresh tokens. Strava keeps the refresh token while the access token lives.
    refreshRotation: 'never' as const,
    accessTokenTtlS: c.tokenTtlS,
    webhookRetryDelayMs: 1_000,
    webhookLogLimit: 100_000,
    startTimeMs,
  };
}

function requestsOf(counters: Counters) {
  let api = 0;
  let list = 0;
  let detail = 0;
  let tokenCalls = 0;
  for (const [endpoint, byStatus] of Object.entries(counters.requests)) {
    const n = Object.values(byStatus).reduce((a, b) => a + b, 0);
    if (endpoint.includes('/oauth/token')) tokenCalls += n;
    if (!endpoint.includes('/api/v3/')) continue;
    api += n;
    if (endpoint.includes('/athlete/activities')) list += n;
    else if (endpoint.includes('/activities/')) detail += n;
  }
  return { api, list, detail, other: api - list - detail, tokenCalls };
}

function diff(after: Counters, before: Counters) {
  const a = requestsOf(after);
  const b = requestsOf(before);
  return { api: a.api - b.api, list: a.list - b.list, detail: a.detail - b.detail, other: a.other - b.other, tokenCalls: a.tokenCalls - b.tokenCalls };
}

/**
 * The day itself, the same for both designs: the plan played from dayStart, the burst and the 5xx period at
 * their moments, the grace period, then the end state compared with the ground truth.
 */
async function runDay(
  emulator: RunningEmulator,
  plan: PlannedChange[],
  size: NaiveBenchSize,
  c: Compression,
  dayStart: number,
  burst: { startMs: number; untilEmulatorMs: (fromEmulatorMs: number) => number },
  read: () => Promise<StoredActivity[]>,
  log: (line: string) => void,
) {
  const control = emulator.control;
  const before = await control.counters();
  const tracker = new FreshnessTracker(read);
  tracker.start();
  const at = (offsetMs: number) => sleep(Math.max(0, dayStart + offsetMs - Date.now()));
  let burstReport = { startMs: 0, lengthMs: 0 };
  const faults = [
    at(burst.startMs).then(async () => {
      const from = await control.now();
      const until = burst.untilEmulatorMs(from);
      await control.setFaults({ rateLimitedUntil: until });
      burstReport = { startMs: Date.now() - dayStart, lengthMs: until - from };
      log(`forced 429 burst for ${((until - from) / 1000).toFixed(1)} s`);
    }),
    at(ERRORS_AT * size.dayMs).then(async () => {
      await control.setFaults({ apiErrorRate: ERROR_RATE, apiErrorStatus: 503 });
      log(`5xx period: ${ERROR_RATE * 100} % of calls answer 503`);
      await sleep(errorsMs(size));
      await control.setFaults({ apiErrorRate: 0 });
      log('5xx period over');
    }),
  ];
  await playDay(control, plan, dayStart, (change) => tracker.add(change));
  await Promise.all(faults);
  log(`day over (${plan.length} changes); grace of ${(c.graceMs / 1000).toFixed(1)} s`);
  await at(size.dayMs + c.graceMs);
  await control.webhooksSettled(30_000);
  const freshness = await tracker.stop();
  const after = await control.counters();
  const snapshot = await control.snapshot();
  const rows = await read();
  const compare = async () => {
    const rows = await read();
    return summarize(divergences(await control.snapshot(), rows.map((r) => ({ ...r, id: Number(r.id), athleteId: Number(r.athleteId) }))));
  };
  const endDivergences = divergences(snapshot, rows.map((r) => ({ ...r, id: Number(r.id), athleteId: Number(r.athleteId) })));
  const summary = summarize(endDivergences);
  const staleFields: Record<string, number> = {};
  for (const d of endDivergences) for (const field of d.fields ?? []) staleFields[field] = (staleFields[field] ?? 0) + 1;
  // Then, with nothing changing any more, how long until the database equals the ground truth (bounded).
  const endAt = Date.now();
  let settled = summary;
  let convergedAfterMs: number | null = null;
  while (Date.now() - endAt < c.extraMs) {
    settled = await compare();
    if ((settled.missing ?? 0) + (settled.stale ?? 0) + (settled.extra ?? 0) === 0) {
      convergedAfterMs = Date.now() - endAt;
      break;
    }
    await sleep(250);
  }
  log(`end: ${JSON.stringify(summary)}; ${convergedAfterMs === null ? `still ${JSON.stringify(settled)} after ${(c.extraMs / 1000).toFixed(0)} s more` : `converged ${(convergedAfterMs / 1000).toFixed(1)} s later`}`);
  return {
    afterExtra: { missing: settled.missing ?? 0, stale: settled.stale ?? 0, extra: settled.extra ?? 0, convergedAfterMs },
    requests: diff(after, before),
    rateLimited: { total: after.rateLimited - before.rateLimited, forced: after.rateLimitedForced - before.rateLimitedForced },
    serverErrors: after.serverErrors - before.serverErrors,
    webhooks: {
      events: after.webhooks.events - before.webhooks.events,
      dropped: after.webhooks.dropped - before.webhooks.dropped,
      delivered: after.webhooks.delivered - before.webhooks.delivered,
      failed: after.webhooks.failed - before.webhooks.failed,
    },
    burst: burstReport,
    end: { missing: summary.missing ?? 0, stale: summary.stale ?? 0, extra: summary.extra ?? 0, staleFields },
    freshness,
  };
}

export interface NaiveBenchOptions {
  size: NaiveBenchSize;
  seed: number;
  databaseServerUrl: string;
  workflowBundlePath: string;
  log?: (line: string) => void;
}

/** strava-sync's real stack: Temporal dev server, API and a worker as processes, PostgreSQL, the emulator. */
async function runStravaSync(options: NaiveBenchOptions, c: Compression, log: (line: string) => void): Promise<{ report: SideReport; plan: PlannedChange[] }> {
  const { size, seed } = options;
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'naive-bench-strava-'));
  const emulator = await startEmulator(emulatorOptions(size, seed, c, Date.now()));
  const db = await createScratchDatabase(options.databaseServerUrl, 'naive_ss', { migrated: false, poolSize: 3 });
  let processes: ServiceProcesses | undefined;
  try {
    await migrate(db.sql);
    const temporalPort = await freePort();
    const apiPort = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '8',
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_TASK_QUEUE: 'strava-sync-naive-bench',
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
      PORT: String(apiPort),
      PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      ADMIN_API_KEY: ADMIN_KEY,
      OAUTH_STATE_SECRET: 'naive-bench-oauth-state-secret-0123',
      BACKFILL_INTERVAL: `${c.cronMs}ms`,
      TOKEN_REFRESH_MARGIN: `${c.refreshMarginMs}ms`,
      STRAVA_READ_LIMIT_15MIN: String(READ_LIMIT_15MIN),
      STRAVA_READ_LIMIT_DAILY: String(96 * READ_LIMIT_15MIN),
      STRAVA_REQUEST_TIMEOUT: '10s',
      WORKFLOW_BUNDLE_PATH: options.workflowBundlePath,
      WORKER_METRICS_PORT: String(await freePort()),
      CHAOS_CLOCK_OFFSET_MS: '0',
    };
    processes = new ServiceProcesses(dir, env, { port: temporalPort, dbFilename: join(dir, 'temporal.sqlite') });
    const services = processes;
    await Promise.all([services.startApi(), services.startTemporal().then(() => services.startWorker())]);
    log('strava-sync: temporal, api and a worker up');
    const subscribed = await fetch(`${env.PUBLIC_URL}/admin/subscription`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    if (subscribed.status !== 201) throw new Error(`subscription: ${subscribed.status} ${await subscribed.text()}`);
    const control = emulator.control;
    const athleteIds = (await control.listAthletes()).map((a) => a.id).sort((a, b) => a - b);
    // One "browser" per athlete: the API limits OAuth requests per client address.
    const clientAddress = (i: number) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    for (let i = 0; i < athleteIds.length; i += 4) {
      await Promise.all(athleteIds.slice(i, i + 4).map((id, j) => connectThroughOAuth(env.PUBLIC_URL!, id, { headers: { 'x-forwarded-for': clientAddress(i + j) } })));
    }
    const read = () => storedRows(db.sql) as Promise<StoredActivity[]>;
    const initial = await control.snapshot();
    await waitUntil('the initial import', 180_000, async () => divergences(await control.snapshot(), await read()).length === 0, 500);
    const importRequests = requestsOf(await control.counters()).api;
    const setupMs = Date.now() - started;
    log(`strava-sync: ${athleteIds.length} athletes connected and imported in ${(setupMs / 1000).toFixed(1)} s (${importRequests} requests)`);
    const plan = planDay(initial, { seed, changes: size.changes, dayMs: size.dayMs, processingMs: [500, 3_000] });
    // As in the chaos scenario, strava-sync answers a 429 by waiting for the next 15-minute window, so a window
    // boundary must end the forced burst: the API and the worker restart with their clocks set back by the right
    // amount (test/chaos/clock-offset.mjs), and the emulator's clock with them. Planned for a day starting after
    // the restart; a slow restart makes the burst start late and shorter (it still ends at the boundary).
    const plannedDayStart = Date.now() + size.restartAllowanceMs;
    // Ahead, not behind: the tokens issued at connect then look as old as a day's tokens do (a clock set back
    // would make them live on for the whole day).
    const plannedBoundary = plannedDayStart + BURST_AT * size.dayMs + burstMs(size) + 1_000;
    const clockShiftMs = (WINDOW_MS - (plannedBoundary % WINDOW_MS)) % WINDOW_MS;
    env.CHAOS_CLOCK_OFFSET_MS = String(clockShiftMs);
    await control.setClock(Date.now() + clockShiftMs);
    await Promise.all([services.restartApi(), services.workers.shift()!.stop(10_000).then(() => services.startWorker())]);
    log(`strava-sync: api and worker restarted with their clocks ${Math.round(clockShiftMs / 1000)} s ahead`);
    await control.setFaults({ webhookDropRate: 0.1 });
    const notes: string[] = [];
    const dayStart = Math.max(Date.now(), plannedDayStart);
    if (dayStart > Date.now()) await sleep(dayStart - Date.now());
    const burstStartAbs = plannedBoundary - 1_000 - burstMs(size);
    if (burstStartAbs < dayStart + BURST_AT * size.dayMs) notes.push('the restart ran late: the 429 burst was shorter than planned');
    const boundaryOnEmulator = plannedBoundary + clockShiftMs;
    // Where strava-sync's requests went, from its own sync history (requests per trigger and activity).
    const runsByTrigger = async () => {
      const rows = await db.sql<{ key: string; requests: number; runs: number }[]>`
        select trigger || ' ' || activity as key, sum(requests)::int as requests, count(*)::int as runs from sync_runs group by 1`;
      return new Map(rows.map((r) => [r.key, r]));
    };
    const runsBefore = await runsByTrigger();
    const day = await runDay(
      emulator,
      plan,
      size,
      c,
      dayStart,
      { startMs: Math.max(BURST_AT * size.dayMs, burstStartAbs - dayStart), untilEmulatorMs: () => boundaryOnEmulator - 1_000 },
      read,
      (line) => log(`strava-sync: ${line}`),
    );
    const runsAfter = await runsByTrigger();
    const spent = [...runsAfter.values()]
      .map((r) => ({ key: r.key, requests: r.requests - (runsBefore.get(r.key)?.requests ?? 0), runs: r.runs - (runsBefore.get(r.key)?.runs ?? 0) }))
      .filter((r) => r.runs > 0)
      .sort((a, b) => b.requests - a.requests);
    notes.push(`requests by trigger and activity from the start of the day to the end of the watch after it (from sync_runs; runs in brackets): ${spent.map((r) => `${r.key} ${r.requests} (${r.runs})`).join(', ')}`);
    return { report: { design: 'strava-sync', setupMs, importRequests, notes, ...day }, plan };
  } finally {
    await processes?.stopAll().catch(() => {});
    await emulator.close().catch(() => {});
    await db.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** The naive design in this process, against a fresh emulator of the same seed, with the burst of strava-sync's run. */
async function runNaive(options: NaiveBenchOptions, c: Compression, plan: PlannedChange[], burst: SideReport['burst'], log: (line: string) => void): Promise<SideReport> {
  const { size, seed } = options;
  const started = Date.now();
  const emulator = await startEmulator(emulatorOptions(size, seed, c, Date.now()));
  const db = await createScratchDatabase(options.databaseServerUrl, 'naive_nv', { migrated: false, poolSize: 3 });
  const app = new NaiveApp({
    databaseUrl: db.url,
    apiUrl: emulator.apiUrl,
    oauthUrl: emulator.oauthUrl,
    clientId: emulator.clientId,
    clientSecret: emulator.clientSecret,
    verifyToken: 'naive-verify-token',
    cronIntervalMs: c.cronMs,
    recentPerPage: 30,
    backoffBaseMs: 250,
    maxRetries: 5,
    cronConcurrency: 8,
  });
  try {
    await app.start();
    await app.subscribe();
    const control = emulator.control;
    const athleteIds = (await control.listAthletes()).map((a) => a.id).sort((a, b) => a - b);
    for (let i = 0; i < athleteIds.length; i += 4) {
      await Promise.all(athleteIds.slice(i, i + 4).map(async (id) => app.connect(id, await control.issueTokens(id))));
    }
    const read = () =>
      db.sql<StoredActivity[]>`select id, athlete_id as "athleteId", name, sport_type as "sportType", private, visibility from naive_activities order by id`;
    const initial = await control.snapshot();
    const importDivergence = divergences(initial, (await read()).map((r) => ({ ...r, id: Number(r.id), athleteId: Number(r.athleteId) })));
    if (importDivergence.length > 0) throw new Error(`naive import incomplete: ${JSON.stringify(summarize(importDivergence))}`);
    const importRequests = requestsOf(await control.counters()).api;
    const setupMs = Date.now() - started;
    log(`naive: ${athleteIds.length} athletes connected and imported in ${(setupMs / 1000).toFixed(1)} s (${importRequests} requests)`);
    // The same seed generates the same world: strava-sync's plan names the same activities here.
    const ids = new Set(initial.athletes.flatMap((a) => a.activities.map((x) => x.id)));
    if (plan.some((p) => 'existing' in p.target && !ids.has(p.target.existing))) throw new Error('the two emulators generated different worlds');
    await control.setFaults({ webhookDropRate: 0.1 });
    app.startCron();
    const dayStart = Date.now();
    const day = await runDay(emulator, plan, size, c, dayStart, { startMs: burst.startMs, untilEmulatorMs: (from) => from + burst.lengthMs }, read, (line) => log(`naive: ${line}`));
    const stats = app.stats;
    return {
      design: 'naive',
      setupMs,
      importRequests,
      notes: [
        `cron runs ${stats.cronRuns}, list calls ${stats.listCalls}, webhook fetches ${stats.fetches}, retries after 429 ${stats.retries429}, gave up after retries ${stats.gaveUp}`,
        `failed calls (dropped, as the design does): ${JSON.stringify(stats.fetchFailures)}`,
      ],
      ...day,
    };
  } finally {
    await app.stop().catch(() => {});
    await emulator.close().catch(() => {});
    await db.drop().catch(() => {});
  }
}

export async function runNaiveBench(options: NaiveBenchOptions): Promise<NaiveBenchReport> {
  const log = options.log ?? (() => {});
  const c = compression(options.size);
  log(`compression x${Math.round(c.factor)}: cron/backfill every ${(c.cronMs / 1000).toFixed(1)} s, tokens live ${c.tokenTtlS} s`);
  const { report: strava, plan } = await runStravaSync(options, c, log);
  const naive = await runNaive(options, c, plan, strava.burst, log);
  const changes: Record<string, number> = {};
  for (const change of plan) changes[change.kind] = (changes[change.kind] ?? 0) + 1;
  return { seed: options.seed, size: options.size, compression: c, changes, strava, naive };
}
