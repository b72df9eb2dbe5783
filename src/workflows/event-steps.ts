import { log, patched } from '@temporalio/workflow';
import { clampEventTime } from '../domain/event-time.js';
import { newestReceipt } from '../domain/sync-history.js';
import { db, strava, stravaLocal } from './strava-and-db-activities.js';
import type { AthleteSyncRun } from './athlete-sync-run.js';
import { PATCHES } from './patches.js';
import { planActivityEvents, recordTombstone, type ActivityAction } from './event-plan.js';
import { defer, nextTokenAt } from './fetch-budget.js';
import { pullInBackfill, quickSyncFrom, syncWindow } from './sync-steps.js';

/**
 * The steps that act on webhook events: apply the queued events, re-fetch what 404ed after a create, and the
 * two ways the per-athlete event fetch budget is honoured (deferred fetches, one burst list instead of many).
 * Events are hints: every one of them only makes the workflow ask Strava sooner.
 */

/** What a fetch triggered by an event means: a 404 after a create is retried, after a delete it confirms it. */
type FetchPurpose = 'create' | 'update' | 'delete';

export async function applyEvents(run: AthleteSyncRun): Promise<void> {
  const { state } = run;
  const batch = state.pendingEvents.splice(0, state.pendingEvents.length);
  const actions = planActivityEvents(batch, state.tombstones);
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i]!;
    if (!(await applyAction(run, action))) {
      // Keep this and the remaining events, in order, ahead of anything that arrived meanwhile.
      state.pendingEvents.unshift(...actions.slice(i).flatMap((a) => a.events));
      return;
    }
    state.counters.eventsHandled += action.events.length;
  }
}

/** Returns false when the action must wait (rate limit, re-authorization, paused app). */
async function applyAction(run: AthleteSyncRun, action: ActivityAction): Promise<boolean> {
  if (action.kind === 'stale') {
    run.state.counters.staleEvents += action.events.length;
    return true;
  }
  if (action.kind === 'delete' && !patched(PATCHES.confirmDeletes)) {
    await removeActivity(run, action.activityId, action.eventTime, 'delete event', newestReceipt(action.events, action.eventTime));
    return true;
  }
  // An event is a hint: even a delete only makes the workflow ask Strava (a 404 confirms it).
  if (!run.takeFetchToken()) {
    deferFetch(run, action.activityId, action.eventTime, action.kind === 'delete', newestReceipt(action.events, action.eventTime));
    return true;
  }
  const purpose: FetchPurpose = action.kind === 'delete' ? 'delete' : action.afterCreate ? 'create' : 'update';
  const receivedAt = newestReceipt(action.events, action.eventTime);
  return fetchForEvent(run, action.activityId, action.eventTime, purpose, action.events.length, action.kind === 'delete' ? 'confirm delete' : 'event', receivedAt);
}

/**
 * Fetches an activity an event named (realtime priority) and applies Strava's answer. Returns false when the
 * fetch must wait (rate limit, re-authorization, paused app).
 */
async function fetchForEvent(run: AthleteSyncRun, activityId: number, eventTime: number, purpose: FetchPurpose, events: number, label: string, receivedAt?: number): Promise<boolean> {
  const { state, athleteId } = run;
  const key = String(activityId);
  delete state.deferred[key]; // this fetch answers whatever a deferred event asked about the activity
  const fetchActivity = patched(PATCHES.localEventFetch) ? stravaLocal.fetchActivity : strava.fetchActivity;
  const outcome = await run.callStrava(
    'realtime',
    () => fetchActivity.executeWithOptions({ summary: `fetch activity ${activityId} (${label} ${eventTime})` }, [{ athleteId, activityId, priority: 'realtime', eventTime, trigger: 'webhook', receivedAt }]),
    { refundsToken: true },
  );
  // A failure retries could not fix loses this event; the next backfill repairs the activity.
  if (!outcome.ok) return outcome.kind === 'failed';
  state.counters.fetches += 1;
  if (outcome.value.outcome === 'upserted') {
    if (outcome.value.added) run.moveStored(1);
    delete state.tombstones[key];
    delete state.notFound[key];
    if (outcome.value.added) await pullInBackfill(run);
    if (purpose === 'delete') {
      // Strava still shows it: the delete was stale or forged, and the activity stays.
      state.counters.staleDeletes += 1;
      log.warn('delete event ignored: Strava still returns the activity (stale or forged event)', { athleteId, activityId });
    }
  } else if (outcome.value.outcome === 'superseded') {
    state.counters.staleEvents += events;
  } else if (purpose === 'create' && run.opts.notFoundRetryDelaysMs.length > 0) {
    // Strava may still be processing a new activity: look again later.
    state.notFound[key] = { attempt: 1, dueAt: Date.now() + run.opts.notFoundRetryDelaysMs[0]!, eventTime, receivedAt };
  } else {
    await removeActivity(run, activityId, eventTime, purpose === 'delete' ? 'delete confirmed by Strava' : 'not visible', receivedAt);
  }
  return true;
}

export async function retryNotFound(run: AthleteSyncRun): Promise<void> {
  const { state, athleteId, opts } = run;
  const due = Object.entries(state.notFound).filter(([, retry]) => retry.dueAt <= Date.now());
  for (const [key, retry] of due) {
    const activityId = Number(key);
    if (!run.takeFetchToken()) {
      // Out of budget: look again when the next token arrives (the retry keeps its attempt number).
      state.notFound[key] = { ...retry, dueAt: Math.max(Date.now() + 1, nextTokenAt(state.fetchBudget, run.budget, Date.now())) };
      continue;
    }
    const outcome = await run.callStrava(
      'realtime',
      () =>
        strava.fetchActivity.executeWithOptions({ summary: `fetch activity ${activityId} again (404 retry ${retry.attempt})` }, [
          { athleteId, activityId, priority: 'realtime', eventTime: retry.eventTime, trigger: 'webhook', receivedAt: retry.receivedAt },
        ]),
      { refundsToken: true },
    );
    if (!outcome.ok) {
      if (outcome.kind !== 'failed') return;
      delete state.notFound[key];
      continue;
    }
    if (outcome.value.outcome !== 'not_found') {
      delete state.notFound[key];
      if (outcome.value.outcome === 'upserted') delete state.tombstones[key];
      if (outcome.value.added) {
        run.moveStored(1);
        await pullInBackfill(run);
      }
    } else if (retry.attempt < opts.notFoundRetryDelaysMs.length) {
      state.notFound[key] = { attempt: retry.attempt + 1, dueAt: Date.now() + opts.notFoundRetryDelaysMs[retry.attempt]!, eventTime: retry.eventTime, receivedAt: retry.receivedAt };
    } else {
      state.counters.notFoundGaveUp += 1;
      await removeActivity(run, activityId, retry.eventTime, 'still 404 after retries', retry.receivedAt);
    }
  }
}

/**
 * The event fetch budget ran out: one list of the recent window (interactive priority) finds what a burst of
 * events was about, instead of one fetch each. What it does not find stays deferred for the refilling budget.
 */
export async function burstList(run: AthleteSyncRun): Promise<void> {
  const { state, opts } = run;
  state.burstListPending = false;
  state.burstListNotBefore = Date.now() + opts.burstListIntervalMs;
  state.counters.burstLists += 1;
  const watch = Object.keys(state.deferred).map(Number);
  const outcome = await syncWindow(run, 'burst', 'interactive', 'quick', quickSyncFrom(run), 'event burst', watch);
  if (!outcome.ok) {
    if (outcome.kind !== 'failed') state.burstListPending = true;
    return;
  }
  for (const id of outcome.value.found ?? []) {
    const key = String(id);
    if (state.deferred[key]?.confirmsDelete) state.counters.staleDeletes += 1;
    delete state.deferred[key];
  }
}

/** Fetches deferred activities while the budget has tokens. */
export async function fetchDeferred(run: AthleteSyncRun): Promise<void> {
  const { state } = run;
  for (const [key, entry] of Object.entries(state.deferred)) {
    if (state.deferred[key] !== entry) continue; // settled or replaced while an earlier fetch ran
    if (!run.takeFetchToken()) return;
    delete state.deferred[key];
    const purpose: FetchPurpose = entry.confirmsDelete ? 'delete' : 'update';
    if (!(await fetchForEvent(run, Number(key), entry.eventTime, purpose, 1, 'deferred event', entry.receivedAt))) {
      defer(state.deferred, Number(key), entry, run.opts.deferredFetchesKeep);
      return;
    }
  }
}

/** Postpones an event fetch until a token is free; a full deferred set falls back to a list of the recent window. */
function deferFetch(run: AthleteSyncRun, activityId: number, eventTime: number, confirmsDelete: boolean, receivedAt: number | undefined): void {
  const { state, opts } = run;
  state.counters.fetchesDeferred += 1;
  if (!defer(state.deferred, activityId, { eventTime, confirmsDelete, receivedAt }, opts.deferredFetchesKeep)) state.counters.droppedEvents += 1;
  run.scheduleBurstList();
}

async function removeActivity(run: AthleteSyncRun, activityId: number, eventTime: number, why: string, receivedAt: number | undefined): Promise<void> {
  const { state, athleteId } = run;
  const { deleted } = await db.removeActivity.executeWithOptions({ summary: `remove activity ${activityId} (${why})` }, [{ athleteId, activityId, eventTime, trigger: 'webhook', receivedAt }]);
  if (deleted) run.moveStored(-1);
  // A tombstone is never dated after the moment it is recorded: a later observation from Strava always wins.
  recordTombstone(state.tombstones, activityId, clampEventTime(eventTime, Date.now()), run.opts.tombstonesKeep);
  delete state.notFound[String(activityId)];
  delete state.deferred[String(activityId)];
}
