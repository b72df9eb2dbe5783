/**
 * The import benchmark on the real stack (bench/lib/service-stack.ts: API and worker processes, the Temporal dev
 * server, PostgreSQL, the emulator over HTTP): many athletes connect through OAuth at once, each with a history of
 * its own size, while webhook-driven activity creations keep arriving on athletes already imported and on the
 * importing ones. Event-to-visible latency is bench/freshness's measurement (runStep, ChangeWatcher); requests,
 * refusals and completion times come from the service's sync history (sync_runs), 429s from the emulator.
 *
 * So that the background share is the bottleneck within minutes, the 15-minute limit is small enough that the
 * imports need more than one window's background share, and the API and worker are restarted with their clocks
 * (and the emulator's) shifted ahead (test/chaos/clock-offset.mjs, as bench/naive does) so that a window boundary
 * falls `leadMs` after the athletes start connecting: the imports spend window 0's share, wait out the boundary
 * on Temporal timers, and finish in window 1. The day limit is 96 windows, so the daily pace never binds first.
 */
import { ChangeWatcher, runStep, type StepResult } from '../freshness/measure.js';
import { startStack, waitUntil, waitForImports, type Stack } from '../lib/service-stack.js';
import {
  WINDOW_MS,
  listRequestsServed as listServed,
  budgetBoundMs,
  importOutcomes,
  importerSizes,
  simpleIdealMs,
  windowsFromHistory,
  type BudgetShape,
} from './plan.js';
import type { ImportCaseReport } from './simulate.js';
import { DEFAULT_BACKGROUND_SHARE } from '../../src/domain/read-budget.js';

export interface LiveOptions {
  dir: string;
  databaseServerUrl: string;
  workflowBundlePath: string;
  temporalStore: 'sqlite' | 'memory';
  importers: number;
  minActivities: number;
  maxActivities: number;
  /** Athletes imported before the run (2 activities each): the unloaded baseline's, then webhooks during the imports. */
  watchers: number;
  limits: { fifteenMinute: number; daily: number };
  /** Webhook-driven creations per second on the watchers, and as many on the importers once they list (the unloaded baseline: twice this on the watchers). */
  eventRate: number;
  baselineSeconds: number;
  /** How long the webhooks keep arriving after the athletes start connecting. */
  loadedSeconds: number;
  /** From the start of the connects to the window boundary (real ms); null: no clock shift (the window is wherever real time is). */
  leadMs: number | null;
  /** Time allowed for the restart with shifted clocks and a warm-up before the connects start (default 45 s). */
  restartAllowanceMs?: number;
  /** Give up waiting for the imports after this long. */
  importTimeoutMs: number;
  log?: (line: string) => void;
}

export interface LiveReport extends ImportCaseReport {
  baseline: StepResult;
  loadedWatchers: StepResult;
  loadedImporters: StepResult | null;
  /** Real ms from the start of the connects to the window boundary, and how long connecting took. */
  boundaryAfterMs: number | null;
  connectMs: number;
  /** Import pages per second before window 0's share ran out (the stack's throughput, budget aside). */
  pagesPerSecondUnbounded: number | null;
  clockShiftMs: number;
  timeline: TimelineRow[];
}

/** Where the realtime tail sits: per bucket after the connects began, webhooks and import pages side by side. */
export interface TimelineRow {
  fromS: number;
  events: number;
  /** Webhook receipt -> activity row written (PostgreSQL now() of both), p99 and max ms. */
  receiptToRowP99: number | null;
  receiptToRowMax: number | null;
  /** Receipt -> claimed by the relay (signalWithStart), p99 ms. */
  inboxToClaimP99: number | null;
  /** The fetch activities started in the bucket: p99 of their run time (governor, Strava call, upsert). */
  fetchRunP99: number | null;
  importPages: number;
  importRefusals: number;
  /** Import page activities started in the bucket: p99 run time. */
  importRunP99: number | null;
}

async function timelineOf(sql: Stack['sql'], connectAt: number, clockShiftMs: number, bucketMs: number): Promise<TimelineRow[]> {
  const from = new Date(connectAt);
  const events = await sql<{ b: number; n: number; p99: number | null; max: number | null; claim: number | null }[]>`
    select floor(extract(epoch from (w.received_at - ${from}::timestamptz)) * 1000 / ${bucketMs})::int as b, count(*)::int as n,
           percentile_disc(0.99) within group (order by extract(epoch from (a.synced_at - w.received_at)) * 1000)::float8 as p99,
           max(extract(epoch from (a.synced_at - w.received_at)) * 1000)::float8 as max,
           percentile_disc(0.99) within group (order by extract(epoch from (w.forwarded_at - w.received_at)) * 1000)::float8 as claim
    from webhook_events w join activities a on a.id = w.object_id
    where w.aspect_type = 'create' and w.received_at >= ${from} group by 1 order by 1`;
  // The sync history's times are on the worker's (shifted) clock.
  const shiftedFrom = new Date(connectAt + clockShiftMs);
  const runs = await sql<{ b: number; activity: string; ok: number; refused: number; p99: number | null }[]>`
    select floor(extract(epoch from (started_at - ${shiftedFrom}::timestamptz)) * 1000 / ${bucketMs})::int as b, activity,
           count(*) filter (where outcome = 'ok')::int as ok, count(*) filter (where outcome = 'rate_limited')::int as refused,
           (percentile_disc(0.99) within group (order by duration_ms) filter (where outcome = 'ok'))::float8 as p99
    from sync_runs where started_at >= ${shiftedFrom} and activity in ('import_page', 'fetch_activity') group by 1, 2`;
  const buckets = new Set([...events.map((e) => e.b), ...runs.map((r) => r.b)]);
  return [...buckets].sort((a, b) => a - b).map((b) => {
    const e = events.find((x) => x.b === b);
    const imp = runs.find((x) => x.b === b && x.activity === 'import_page');
    const fetch = runs.find((x) => x.b === b && x.activity === 'fetch_activity');
    return {
      fromS: (b * bucketMs) / 1000,
      events: e?.n ?? 0,
      receiptToRowP99: e?.p99 ?? null,
      receiptToRowMax: e?.max ?? null,
      inboxToClaimP99: e?.claim ?? null,
      fetchRunP99: fetch?.p99 ?? null,
      importPages: imp?.ok ?? 0,
      importRefusals: imp?.refused ?? 0,
      importRunP99: imp?.p99 ?? null,
    };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runLiveImports(o: LiveOptions): Promise<LiveReport> {
  const log = o.log ?? (() => {});
  const wallStart = performance.now();
  const stack = await startStack({
    dir: o.dir,
    databaseServerUrl: o.databaseServerUrl,
    workflowBundlePath: o.workflowBundlePath,
    temporalStore: o.temporalStore,
    athletes: o.watchers,
    activitiesPerAthlete: 2,
    readLimit: o.limits,
    // As bench/freshness: athletes here upload weeks of activities in minutes; the per-athlete event-fetch budget
    // (a cap on what forged events cost) would defer them by design.
    env: { EVENT_FETCH_CAPACITY: '100000', EVENT_FETCH_REFILL: '1s' },
  });
  let watcher = new ChangeWatcher(stack.apiUrl);
  try {
    const control = stack.emulator.control;
    const watchers = stack.athleteIds;
    const sizes = importerSizes(o.importers, o.minActivities, o.maxActivities);
    const importers: { id: number; size: number }[] = [];
    for (const size of sizes) importers.push({ id: (await control.createAthlete({ activities: size })).id, size });
    const importerIds = importers.map((i) => i.id);
    await stack.connect(watchers, 4);
    await waitForImports(stack.sql, watchers.length * 2, 60_000);
    log(`stack up: ${watchers.length} watchers imported; ${importers.length} importers generated (${sizes.reduce((a, b) => a + b, 0)} activities)`);

    await runStep(stack, watcher, { label: 'warm-up', athleteIds: watchers, rate: o.eventRate, seconds: 5 }, log);
    // The same webhook rate as during the imports (eventRate on the watchers + eventRate on the importers), all on the watchers.
    const baseline = await runStep(stack, watcher, { label: 'unloaded', athleteIds: watchers, rate: 2 * o.eventRate, seconds: o.baselineSeconds }, log);
    log(`unloaded: p50 ${baseline.latency?.p50} ms, p99 ${baseline.latency?.p99} ms, missing ${baseline.missing}`);
    watcher.close();

    // The window boundary leadMs after the connects start: the API and worker restart with shifted clocks.
    let clockShiftMs = 0;
    let plannedBoundary: number | null = null;
    if (o.leadMs !== null) {
      plannedBoundary = Date.now() + (o.restartAllowanceMs ?? 45_000) + o.leadMs;
      // One window more than needed: the shifted window 0 then lies after every real-time window the run used so
      // far, so the baseline's realtime requests (on the unshifted clock) are not counted in it.
      clockShiftMs = ((WINDOW_MS - (plannedBoundary % WINDOW_MS)) % WINDOW_MS) + WINDOW_MS;
      stack.env.CHAOS_CLOCK_OFFSET_MS = String(clockShiftMs);
      await control.setClock(Date.now() + clockShiftMs);
      const services = stack.processes;
      await Promise.all([services.restartApi(), services.workers.shift()!.stop(10_000).then(() => services.startWorker())]);
    }
    // The importers' streams open once they are connected (runStep opens them); the API has no stream before.
    watcher = new ChangeWatcher(stack.apiUrl);
    await watcher.open(watchers);
    if (o.leadMs !== null) {
      // Not measured: the watchers' workflows were cached by the worker that stopped, and the server hands each
      // one's next task to that worker's sticky queue until it times out (10 s). One event each moves them over.
      await runStep(stack, watcher, { label: 'warm-up after the restart', athleteIds: watchers, rate: 5, seconds: Math.ceil(watchers.length / 5) + 1, graceMs: 30_000 }, log);
    }
    const connectAt = plannedBoundary === null ? Date.now() : Math.max(Date.now(), plannedBoundary - o.leadMs!);
    await sleep(connectAt - Date.now());
    log(`${o.leadMs === null ? 'no clock shift' : `api and worker restarted with clocks ${Math.round(clockShiftMs / 1000)} s ahead`}; connecting ${importers.length} athletes` +
      (plannedBoundary === null ? '' : `, boundary in ${((plannedBoundary - Date.now()) / 1000).toFixed(0)} s`));
    const counters0 = await control.counters();
    const shiftedStart = connectAt + clockShiftMs;

    const loadedWatchers = runStep(stack, watcher, { label: 'during imports (watchers)', athleteIds: watchers, rate: o.eventRate, seconds: o.loadedSeconds, graceMs: 60_000 }, log);
    const connectMs = await stack.connect(importerIds, importers.length);
    log(`${importers.length} connected in ${(connectMs / 1000).toFixed(1)} s`);
    // Events on an importing athlete once its first page is listed (an activity created before would move every
    // page boundary by one and change the import's floor).
    let loadedImporters: Promise<StepResult> | null = null;
    try {
      await waitUntil('every import listed its first page', 60_000, async () => {
        const [row] = await stack.sql<{ n: number }[]>`
          select count(distinct athlete_id)::int as n from sync_runs
          where activity = 'import_page' and outcome = 'ok' and athlete_id = any(${importerIds}::bigint[])`;
        return row!.n === importers.length;
      }, 200);
      const left = Math.round(o.loadedSeconds - (Date.now() - connectAt) / 1000);
      if (left >= 5) loadedImporters = runStep(stack, watcher, { label: 'during imports (importing athletes)', athleteIds: importerIds, rate: o.eventRate, seconds: left, graceMs: 60_000 }, log);
    } catch (error) {
      log(String(error));
    }
    const importsDone = async () => {
      const [row] = await stack.sql<{ n: number }[]>`select count(*)::int as n from athletes where id = any(${importerIds}::bigint[]) and last_backfill_at is not null`;
      return row!.n;
    };
    let lastLogged = 0;
    await waitUntil(`${importers.length} imports complete`, o.importTimeoutMs, async () => {
      const n = await importsDone();
      if (n !== lastLogged && n % 10 === 0) log(`${n} imports complete`);
      lastLogged = n;
      return n === importers.length;
    }, 500).catch((error) => log(String(error)));
    const [stepWatchers, stepImporters] = await Promise.all([loadedWatchers, loadedImporters]);
    const counters1 = await control.counters();

    const timeline = await timelineOf(stack.sql, connectAt, clockShiftMs, 10_000);
    const budget: BudgetShape = { windowLimit: o.limits.fifteenMinute, dayLimit: o.limits.daily, backgroundShare: DEFAULT_BACKGROUND_SHARE, interactiveShare: 0.85 };
    const doneRows = await stack.sql<{ id: string }[]>`select id::text from athletes where id = any(${importerIds}::bigint[]) and last_backfill_at is not null`;
    const { imports, totalPages, totalFloor, lastImportMs } = await importOutcomes(stack.sql, importers, shiftedStart, new Set(doneRows.map((r) => Number(r.id))));
    const lastDone = shiftedStart + (lastImportMs ?? Date.now() + clockShiftMs - shiftedStart);
    // The stack's import throughput while the budget allowed it: ok pages of the importers before the first refusal.
    const [first] = await stack.sql<{ firstRefusal: Date | null; firstStart: Date | null }[]>`
      select min(started_at) filter (where outcome = 'rate_limited') as "firstRefusal", min(started_at) as "firstStart"
      from sync_runs where activity = 'import_page' and athlete_id = any(${importerIds}::bigint[])`;
    let pagesPerSecondUnbounded: number | null = null;
    if (first?.firstStart) {
      const until = first.firstRefusal ?? new Date(lastDone);
      const [row] = await stack.sql<{ n: number }[]>`
        select coalesce(sum(requests), 0)::int as n from sync_runs
        where activity = 'import_page' and athlete_id = any(${importerIds}::bigint[]) and started_at < ${until}`;
      const seconds = (until.getTime() - first.firstStart.getTime()) / 1000;
      pagesPerSecondUnbounded = seconds > 0 ? row!.n / seconds : null;
    }
    const realtimeRuns = await stack.sql<{ requests: number; refused: number }[]>`
      select coalesce(sum(requests), 0)::int as requests, count(*) filter (where outcome = 'rate_limited')::int as refused
      from sync_runs where trigger = 'webhook' and started_at >= ${new Date(shiftedStart)}`;
    const windows = await windowsFromHistory(stack.sql, budget, shiftedStart, lastDone, lastImportMs === null ? null : lastDone);
    const latencies = [stepWatchers.latency, stepImporters?.latency].filter((l) => l != null);
    return {
      budget,
      startAt: shiftedStart,
      imports,
      totalPages,
      totalFloor,
      listRequestsServed: listServed(counters1) - listServed(counters0),
      rateLimited429: counters1.rateLimited - counters0.rateLimited,
      lastImportMs,
      boundMs: budgetBoundMs(budget, totalPages, shiftedStart, new Map(windows.map((w) => [w.windowStart, w.other]))),
      boundWithoutRealtimeMs: budgetBoundMs(budget, totalPages, shiftedStart),
      simpleIdealMs: simpleIdealMs(budget, totalPages),
      windows,
      realtime: {
        events: stepWatchers.created + (stepImporters?.created ?? 0),
        requests: realtimeRuns[0]!.requests,
        refused: realtimeRuns[0]!.refused,
        maxDelayMs: Math.max(0, ...latencies.map((l) => l!.max)),
        p99DelayMs: Math.max(0, ...latencies.map((l) => l!.p99)),
      },
      wallMs: performance.now() - wallStart,
      baseline,
      loadedWatchers: stepWatchers,
      loadedImporters: stepImporters,
      boundaryAfterMs: plannedBoundary === null ? null : plannedBoundary - connectAt,
      connectMs,
      pagesPerSecondUnbounded,
      clockShiftMs,
      timeline,
    };
  } finally {
    watcher.close();
    await stack.stop();
  }
}
