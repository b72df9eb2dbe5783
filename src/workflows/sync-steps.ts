import { log, patched } from '@temporalio/workflow';
import type { SyncWindowResult } from '../domain/activity-contract.js';
import type { SyncTrigger } from '../domain/sync-history.js';
import type { Priority, SyncNowMode } from '../domain/sync-types.js';
import { FAILURE_TYPES } from '../domain/failure-types.js';
import { db, strava } from './strava-and-db-activities.js';
import { iso, type AthleteSyncRun } from './athlete-sync-run.js';
import { nextBackfillDelayMs } from './backfill-plan.js';
import type { StravaOutcome } from './failure-outcome.js';
import { focusFindsStale } from './next-step.js';
import { PATCHES } from './patches.js';

/**
 * The steps that list activities: the history import page by page, the budget-aware backfill, and the quick
 * syncs of the recent window (sync-now, app focus, catch-up after a reconnect).
 */

/** Lists activities after `from - overlap` and reconciles the stored ones in that window. */
export async function syncWindow(
  run: AthleteSyncRun,
  trigger: SyncTrigger,
  priority: Priority,
  kind: 'backfill' | 'quick',
  from: number,
  reason: string,
  watch?: number[],
): Promise<StravaOutcome<SyncWindowResult & { startedAt: number }>> {
  const { athleteId, opts } = run;
  const startedAt = Date.now();
  const after = Math.floor((from - opts.backfillOverlapMs) / 1000);
  const dueAt = trigger === 'backfill' && run.state.nextBackfillAt !== null ? Date.parse(run.state.nextBackfillAt) : undefined;
  await run.setState('syncing');
  const outcome = await run.callStrava(priority, () =>
    strava.syncWindow.executeWithOptions({ summary: `${reason}: list activities after ${iso(after * 1000)} (${priority})`, ...(priority === 'background' ? run.backgroundCall() : {}) }, [
      { athleteId, after, priority, kind, perPage: opts.importPageSize, ...(watch !== undefined ? { watch } : {}), trigger, dueAt },
    ]),
  );
  if (!outcome.ok) return outcome;
  run.state.counters.repairs += outcome.value.repaired;
  run.markSynced(startedAt, reason);
  run.countStored(outcome.value.stored);
  return { ok: true, value: { ...outcome.value, startedAt } };
}

/** A quick sync lists from the last successful sync (minus the overlap), or from now when there was none. */
export const quickSyncFrom = (run: AthleteSyncRun): number => (run.state.lastSyncAt !== null ? Date.parse(run.state.lastSyncAt) : Date.now());

function quickSync(run: AthleteSyncRun, trigger: SyncTrigger, priority: Priority, reason: string) {
  run.state.counters.quickSyncs += 1;
  return syncWindow(run, trigger, priority, 'quick', quickSyncFrom(run), reason);
}

export async function serveSyncNow(run: AthleteSyncRun): Promise<void> {
  const serving = run.waiters.filter((waiter) => !waiter.done);
  run.state.counters.syncNows += serving.length;
  if (run.isBlocked('realtime')) {
    const retryIn = Math.ceil(((run.state.rateLimitedUntil.realtime ?? Date.now()) - Date.now()) / 1000);
    run.resolveWaiters(serving, { failure: { type: FAILURE_TYPES.rateLimited, message: `Strava's rate limit is reached; try again in ${retryIn} s` } });
    return;
  }
  const startedAt = Date.now();
  // One listing answers every waiter; the backfill's window covers the recent one, so a full request serves all.
  const mode: SyncNowMode = serving.some((waiter) => waiter.mode === 'full') ? 'full' : 'quick';
  const outcome = mode === 'full' ? await fullSync(run) : await quickSync(run, 'manual', 'realtime', 'sync now');
  if (outcome.ok) {
    const { added, updated, deleted, requests, tokensRefreshed } = outcome.value;
    const result = { added, updated, deleted, requests, durationMs: Date.now() - startedAt, mode, ...(tokensRefreshed !== undefined ? { tokensRefreshed } : {}) };
    run.resolveWaiters(serving, { result });
  } else {
    run.resolveWaiters(serving, { failure: { type: outcome.type, message: outcome.message } });
  }
}

/** Where a backfill starts listing: the last backfill, or the last sync before the first one. */
const backfillFrom = (run: AthleteSyncRun): number =>
  run.state.lastBackfillAt !== null ? Date.parse(run.state.lastBackfillAt) : quickSyncFrom(run);

/** A sync-now over the backfill's window (requested by an operator): it counts as the last backfill. */
async function fullSync(run: AthleteSyncRun) {
  // Recorded in the sync history as a manual run: the scheduled backfill still runs when due.
  const outcome = await syncWindow(run, 'manual', 'realtime', 'backfill', backfillFrom(run), 'sync now (full)');
  if (outcome.ok) run.state.lastBackfillAt = iso(outcome.value.startedAt);
  return outcome;
}

/**
 * Focus coalesces: one pending flag, a sync only when the data is stale. While the interactive share is rate
 * limited the flag waits (nextStep), and a focus sync the rate limit refuses stays owed: the app asked for fresh
 * data and gets it once the budget allows (runs recorded before the patch dropped it).
 */
export async function focusSync(run: AthleteSyncRun): Promise<void> {
  run.state.focusPending = false;
  if (focusFindsStale(run.state, Date.now(), run.opts) && !run.isBlocked('interactive')) {
    run.state.counters.focusSyncs += 1;
    const outcome = await quickSync(run, 'focus', 'interactive', 'app focus');
    if (!outcome.ok && outcome.kind === 'rate_limited' && patched(PATCHES.deferFocus)) run.state.focusPending = true;
  }
}

/** The first sync after a reconnect; a rate limit or a new refusal keeps it owed. */
export async function catchUp(run: AthleteSyncRun): Promise<void> {
  run.state.catchUpPending = false;
  const outcome = await quickSync(run, 'catch_up', 'interactive', 'catch up');
  if (!outcome.ok && outcome.kind !== 'failed') run.state.catchUpPending = true;
}

export async function importPage(run: AthleteSyncRun): Promise<void> {
  const { state, athleteId, opts } = run;
  if (state.import.startedAt === null) state.import.startedAt = iso(Date.now());
  await run.setState('importing');
  const { before } = state.import;
  const outcome = await run.callStrava('background', () =>
    strava.importPage.executeWithOptions(
      // The first page (the athlete's latest 200 activities) on the workflow's own queue: a new athlete sees them at
      // once, and a fleet connecting at once (mostly one-page histories) is not held to the background slots.
      { summary: `import page ${state.import.pages + 1}${before !== null ? ` (before ${iso(before * 1000)})` : ''}`, ...(state.import.pages > 0 ? run.backgroundCall() : {}) },
      [{ athleteId, before, perPage: opts.importPageSize, trigger: 'import_page' }],
    ),
  );
  if (!outcome.ok) {
    if (outcome.kind === 'failed') state.backgroundHoldUntil = Date.now() + opts.errorRetryMs;
    return;
  }
  const page = outcome.value;
  run.countStored(page.stored);
  state.import.pages += 1;
  state.import.imported += page.added;
  if (page.listed < opts.importPageSize || page.oldestStart === null) {
    await finishImport(run);
    return;
  }
  // Overlap one second so activities sharing the boundary second are not skipped (upserts are idempotent).
  let next = page.oldestStart + 1;
  if (before !== null && next >= before) next = before - 1;
  state.import.before = next;
}

async function finishImport(run: AthleteSyncRun): Promise<void> {
  const { state, athleteId } = run;
  const startedAt = Date.parse(state.import.startedAt ?? iso(Date.now()));
  state.import.done = true;
  state.import.finishedAt = iso(Date.now());
  // The import covers everything that started before it began; backfills continue from there.
  state.lastBackfillAt = iso(startedAt);
  run.markSynced(Date.now(), 'import');
  await db.recordSyncTime.executeWithOptions({ summary: 'import complete' }, [{ athleteId, at: startedAt, kind: 'backfill' }]);
  log.info('import complete', { athleteId, pages: state.import.pages, imported: state.import.imported });
  await planNextBackfill(run);
}

/** Asks for the fleet's load and sets the next backfill time (budget-aware interval, jittered). */
export async function planNextBackfill(run: AthleteSyncRun): Promise<void> {
  const fleet = await db.fleetLoad.executeWithOptions({ summary: 'plan next backfill' }, [{ athleteId: run.athleteId }]);
  // Without adaptive backfill the evidence is left out: every class starts from the base interval.
  const load = run.opts.adaptiveBackfill ? fleet : { ...fleet, evidence: undefined };
  const interval = nextBackfillDelayMs(run.opts.backfillIntervalMs, load, run.opts.backfillJitter, Math.random());
  run.state.nextBackfillAt = iso(Date.now() + interval);
  if (patched(PATCHES.recordBackfillPlan)) {
    const dueAt = Date.parse(run.state.nextBackfillAt);
    await db.recordBackfillPlan.executeWithOptions({ summary: 'record the backfill plan' }, [{ athleteId: run.athleteId, dueAt }]);
  }
}

/**
 * A new activity Strava confirmed makes the athlete active now: a backfill planned further away (the athlete was
 * quiet, so adaptive planning stretched it) is pulled in to the base interval, so whatever else this session's
 * webhooks missed is found as soon as for any active athlete. Only Strava's answer moves it, never an event alone.
 */
export async function pullInBackfill(run: AthleteSyncRun): Promise<void> {
  const { state } = run;
  if (state.nextBackfillAt === null || !run.opts.adaptiveBackfill || !patched(PATCHES.pullInBackfill)) return;
  const soonest = Date.now() + run.opts.backfillIntervalMs;
  if (Date.parse(state.nextBackfillAt) <= soonest) return;
  state.nextBackfillAt = iso(soonest);
  // The replaced plan would otherwise count as a backfill that never ran.
  if (patched(PATCHES.recordBackfillPlan)) {
    await db.recordBackfillPlan.executeWithOptions({ summary: 'record the backfill plan' }, [{ athleteId: run.athleteId, dueAt: soonest }]);
  }
}

export async function backfill(run: AthleteSyncRun): Promise<void> {
  const { state } = run;
  const outcome = await syncWindow(run, 'backfill', 'background', 'backfill', backfillFrom(run), 'backfill');
  if (!outcome.ok) {
    if (outcome.kind === 'failed') state.backgroundHoldUntil = Date.now() + run.opts.errorRetryMs;
    return;
  }
  state.counters.backfills += 1;
  state.lastBackfillAt = iso(outcome.value.startedAt);
  await planNextBackfill(run);
}
