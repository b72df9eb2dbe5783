/**
 * The import benchmark at Strava's default limits (100 reads / 15 min, 1,000 / day): the imports take more than a
 * day of budget, so the day runs on a simulated clock. What is real: the rate governor (createRateGovernor on a
 * scratch PostgreSQL database, its `now` injected), the Strava client, token vault and the athlete activities'
 * importPage / fetchActivity code (createActivities, recording sync_runs), and the emulator over HTTP with those
 * limits, its clock set to the simulated one before every step. What is simulated: Temporal. Each athlete's import
 * is a chain of pages as the workflow runs it (src/workflows/sync-steps.ts importPage: the next page is listed
 * before the previous page's oldest start + 1 s, a short page ends it; a RateLimited failure waits its
 * retryAfterMs, at most rateLimitMaxWaitMs, as AthleteSyncRun.applyFailure does), and webhook events become
 * realtime fetches at a steady rate. Steps run one at a time in time order; a page takes, in simulated time, the
 * real time its call took. Time between steps is skipped.
 */
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../../src/config.js';
import { createActivities } from '../../src/activities/index.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { DEFAULT_SYNC_OPTIONS } from '../../src/domain/sync-options.js';
import { FAILURE_TYPES } from '../../src/domain/failure-types.js';
import { startEmulator } from '../../src/emulator/index.js';
import { createStravaServices } from '../../src/strava/services.js';
import { createScratchDatabase } from '../lib/scratch-database.js';
import {
  PER_PAGE,
  listRequestsServed as listServed,
  budgetBoundMs,
  importOutcomes,
  importerSizes,
  simpleIdealMs,
  windowsFromHistory,
  type BudgetShape,
  type ImportOutcome,
  type WindowUse,
} from './plan.js';

export type { ImportOutcome } from './plan.js';

export interface SimulationOptions {
  databaseServerUrl: string;
  importers: number;
  minActivities: number;
  maxActivities: number;
  /** Athletes already imported that receive webhooks only. */
  watchers: number;
  /** Webhook-driven activity creations per simulated day, spread evenly, round robin over watchers and importers. */
  eventsPerDay: number;
  limits: { fifteenMinute: number; daily: number };
  /** Simulated start (epoch ms). */
  startAt: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface ImportCaseReport {
  budget: BudgetShape;
  startAt: number;
  imports: ImportOutcome[];
  totalPages: number;
  totalFloor: number;
  /** List requests the emulator served during the imports (cross-check of the sync history). */
  listRequestsServed: number;
  rateLimited429: number;
  lastImportMs: number | null;
  /** The window-exact bound (budgetBoundMs) with the realtime the run had, without any, and the issue's total pages / allowed rate. */
  boundMs: number;
  boundWithoutRealtimeMs: number;
  simpleIdealMs: number;
  windows: WindowUse[];
  realtime: { events: number; requests: number; refused: number; maxDelayMs: number; p99DelayMs: number };
  wallMs: number;
}

const realtimeP99 = (delays: number[]) => {
  const sorted = [...delays].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]! : 0;
};

/** The retry the workflow would schedule for a failed Strava activity (null: not a rate limit). */
function rateLimitWait(error: unknown): number | null {
  if (!(error instanceof ApplicationFailure) || error.type !== FAILURE_TYPES.rateLimited) return null;
  const retryAfterMs = (error.details?.[0] as { retryAfterMs?: number } | undefined)?.retryAfterMs ?? 60_000;
  return Math.min(Math.max(1_000, retryAfterMs), DEFAULT_SYNC_OPTIONS.rateLimitMaxWaitMs);
}

export async function simulateImports(o: SimulationOptions): Promise<ImportCaseReport> {
  const log = o.log ?? (() => {});
  const wallStart = performance.now();
  const emulator = await startEmulator({
    seed: o.seed ?? 6,
    rateLimits: { read: o.limits, overall: { fifteenMinute: 2 * o.limits.fifteenMinute, daily: 2 * o.limits.daily } },
    startTimeMs: o.startAt - 60_000,
    historyYears: 3,
  });
  const db = await createScratchDatabase(o.databaseServerUrl, 'bench_imports_sim');
  try {
    let now = o.startAt - 60_000;
    const clock = () => now;
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
      STRAVA_READ_LIMIT_15MIN: String(o.limits.fifteenMinute),
      STRAVA_READ_LIMIT_DAILY: String(o.limits.daily),
    });
    const budget: BudgetShape = {
      windowLimit: o.limits.fifteenMinute,
      dayLimit: o.limits.daily,
      backgroundShare: config.RATE_BACKGROUND_SHARE,
      interactiveShare: config.RATE_INTERACTIVE_SHARE,
    };
    const services = createStravaServices(config, db.sql, { now: clock });
    const activities = createActivities({ sql: db.sql, strava: services.athleteStrava, now: clock, wallClock: clock });
    const control = emulator.control;

    const sizes = importerSizes(o.importers, o.minActivities, o.maxActivities, o.seed ?? 6);
    const connect = async (activitiesCount: number) => {
      const athlete = await control.createAthlete({ activities: activitiesCount });
      const issued = await control.issueTokens(athlete.id);
      await upsertConnectedAthlete(db.sql, athlete.id, issued.scope.split(','));
      await services.vault.store(athlete.id, issued);
      return athlete.id;
    };
    const importers: { id: number; size: number; before: number | null; firstPageDone: boolean; done: boolean; nextAt: number }[] = [];
    for (const size of sizes) importers.push({ id: await connect(size), size, before: null, firstPageDone: false, done: false, nextAt: o.startAt });
    const watchers: number[] = [];
    for (let i = 0; i < o.watchers; i++) watchers.push(await connect(2));
    log(`default limits: ${importers.length} importers (${sizes.reduce((a, b) => a + b, 0)} activities) and ${watchers.length} watchers connected`);

    now = o.startAt;
    await control.setClock(now);
    const before = await control.counters();
    const eventEveryMs = o.eventsPerDay > 0 ? 86_400_000 / o.eventsPerDay : Infinity;
    let nextEventAt = o.startAt + eventEveryMs / 2;
    let eventSerial = 0;
    const pendingEvents: { at: number; createdAt: number; athleteId: number; activityId: number }[] = [];
    const realtime = { events: 0, requests: 0, refused: 0, delays: [] as number[] };
    let lastDone = o.startAt;

    const step = async (at: number) => {
      now = at;
      await control.setClock(at);
    };
    for (;;) {
      const open = importers.filter((i) => !i.done);
      if (open.length === 0) break;
      const nextImport = open.reduce((a, b) => (b.nextAt < a.nextAt ? b : a));
      const nextPending = pendingEvents.reduce<(typeof pendingEvents)[number] | undefined>((a, b) => (!a || b.at < a.at ? b : a), undefined);
      const candidates = [nextImport.nextAt, nextEventAt, nextPending?.at ?? Infinity];
      const at = Math.min(...candidates);
      if (at === nextEventAt) {
        // A webhook: an activity created on Strava, fetched in real time (watchers and importers past their first page).
        await step(at);
        const targets = [...watchers, ...importers.filter((i) => i.firstPageDone).map((i) => i.id)];
        const athleteId = targets[eventSerial++ % targets.length]!;
        const created = await control.createActivity(athleteId, { name: `event #${eventSerial}`, start_date: new Date(at - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z') });
        pendingEvents.push({ at, createdAt: at, athleteId, activityId: created.id });
        realtime.events++;
        nextEventAt += eventEveryMs;
        continue;
      }
      if (nextPending && at === nextPending.at) {
        await step(at);
        pendingEvents.splice(pendingEvents.indexOf(nextPending), 1);
        try {
          const result = await activities.fetchActivity({ athleteId: nextPending.athleteId, activityId: nextPending.activityId, priority: 'realtime', eventTime: Math.floor(nextPending.createdAt / 1000), trigger: 'webhook' });
          realtime.requests += result.requests;
          realtime.delays.push(now - nextPending.createdAt);
        } catch (error) {
          const wait = rateLimitWait(error);
          if (wait === null) throw error;
          realtime.refused++;
          pendingEvents.push({ ...nextPending, at: now + wait });
        }
        continue;
      }
      const importer = nextImport;
      await step(at);
      const started = performance.now();
      try {
        const page = await activities.importPage({ athleteId: importer.id, before: importer.before, perPage: PER_PAGE, trigger: 'import_page' });
        importer.firstPageDone = true;
        const tookMs = Math.max(1, Math.round(performance.now() - started));
        if (page.listed < PER_PAGE || page.oldestStart === null) {
          importer.done = true;
          lastDone = Math.max(lastDone, now + tookMs);
        } else {
          // The workflow's cursor (sync-steps.ts importPage): one second of overlap, never moving forward.
          let next = page.oldestStart + 1;
          if (importer.before !== null && next >= importer.before) next = importer.before - 1;
          importer.before = next;
          importer.nextAt = now + tookMs;
        }
      } catch (error) {
        const wait = rateLimitWait(error);
        if (wait === null) throw error;
        importer.nextAt = now + wait;
      }
      const doneCount = importers.filter((i) => i.done).length;
      if (importer.done && doneCount % 10 === 0) log(`default limits: ${doneCount} imports done at +${((now - o.startAt) / 3_600_000).toFixed(2)} h simulated`);
    }
    const after = await control.counters();
    const { imports, totalPages, totalFloor, lastImportMs } = await importOutcomes(db.sql, importers, o.startAt, new Set(importers.filter((i) => i.done).map((i) => i.id)));
    const windows = await windowsFromHistory(db.sql, budget, o.startAt, lastDone, lastDone);
    return {
      budget,
      startAt: o.startAt,
      imports,
      totalPages,
      totalFloor,
      listRequestsServed: listServed(after) - listServed(before),
      rateLimited429: after.rateLimited - before.rateLimited,
      lastImportMs,
      boundMs: budgetBoundMs(budget, totalPages, o.startAt, new Map(windows.map((w) => [w.windowStart, w.other]))),
      boundWithoutRealtimeMs: budgetBoundMs(budget, totalPages, o.startAt),
      simpleIdealMs: simpleIdealMs(budget, totalPages),
      windows,
      realtime: { events: realtime.events, requests: realtime.requests, refused: realtime.refused, maxDelayMs: Math.max(0, ...realtime.delays), p99DelayMs: realtimeP99(realtime.delays) },
      wallMs: performance.now() - wallStart,
    };
  } finally {
    await db.drop().catch(() => {});
    await emulator.close().catch(() => {});
  }
}
