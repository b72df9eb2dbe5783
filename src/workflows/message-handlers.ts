import { ApplicationFailure, condition, log, patched, setHandler } from '@temporalio/workflow';
import type { StravaEventSignal, SyncNowMode, SyncNowRequest, SyncResult } from '../domain/sync-types.js';
import { clampEventTime } from '../domain/event-time.js';
import { SYNC_NOW_REFUSALS } from '../domain/failure-types.js';
import type { AthleteStatus, ResyncJob } from './athlete-state.js';
import { iso, type AthleteSyncRun, type SyncNowWaiter } from './athlete-sync-run.js';
import { eventKey, pushBounded } from './event-plan.js';
import { refill } from './fetch-budget.js';
import { pausedMessage } from './lifecycle-steps.js';
import {
  appFocusSignal,
  disconnectSignal,
  pauseSignal,
  reconnectedSignal,
  resumeSignal,
  resyncRangeSignal,
  settingsSignal,
  statusQuery,
  stravaEventSignal,
  syncNowWithModeUpdate,
} from './messages.js';
import { pausedBy, syncHeld } from './next-step.js';
import { applySettings, pauseByOperator, resumeByOperator } from './operator-controls.js';
import { PATCHES } from './patches.js';
import { recordResyncRequest } from './resync-steps.js';

/**
 * The athlete workflow's message handlers. They only record what was asked (and wake the loop); the main loop
 * does the work. Registered before the workflow's first await, so no message of the first task is lost.
 */
export function registerHandlers(run: AthleteSyncRun): void {
  setHandler(statusQuery, () => athleteStatus(run));
  setHandler(stravaEventSignal, (event) => recordStravaEvent(run, event));
  setHandler(appFocusSignal, () => {
    run.state.counters.focusSignals += 1;
    run.state.focusPending = true;
    run.wake = true;
  });
  setHandler(reconnectedSignal, () => {
    run.reconnects += 1;
    if (run.state.auth === 'needs_reauth') {
      run.state.auth = 'ok';
      run.state.catchUpPending = true;
    }
    // The athlete connected again after asking to disconnect: they stay (the purge has not started, or `ended`).
    if (run.state.disconnectPending && !run.ended && patched(PATCHES.reconnectCancelsDisconnect)) {
      run.state.disconnectPending = false;
      run.state.catchUpPending = true;
    }
    run.wake = true;
  });
  setHandler(disconnectSignal, () => {
    run.state.disconnectPending = true;
    run.wake = true;
  });
  setHandler(resyncRangeSignal, (request) => recordResyncRequest(run, request));
  setHandler(pauseSignal, () => pauseByOperator(run));
  setHandler(resumeSignal, () => resumeByOperator(run));
  setHandler(settingsSignal, (settings) => applySettings(run, settings));
  // Synchronous validator: rejected updates never enter history.
  setHandler(syncNowWithModeUpdate, (request: SyncNowRequest | undefined) => waitForSyncNow(run, request?.mode ?? 'quick'), {
    validator: (request: SyncNowRequest | undefined) => validateSyncNow(run, request),
  });
}

function recordStravaEvent(run: AthleteSyncRun, signalled: StravaEventSignal): void {
  const { state, athleteId, opts } = run;
  state.counters.eventsReceived += 1;
  // Unsigned input: an event from the future counts as now, and a value that is no time at all as now too.
  const event: StravaEventSignal = { ...signalled, eventTime: clampEventTime(signalled.eventTime, Date.now()) };
  if (event.ownerId !== athleteId) {
    log.warn('event for another athlete ignored', { athleteId, ownerId: event.ownerId });
    return;
  }
  const key = eventKey(event);
  if (state.recentEventKeys.includes(key)) {
    state.counters.duplicateEvents += 1;
    return;
  }
  pushBounded(state.recentEventKeys, key, opts.dedupeKeep);
  if (event.objectType === 'athlete') {
    if (event.deauthorized) state.deauthPending = true;
  } else if (state.pendingEvents.length >= opts.maxPendingEvents) {
    // Bounded history: drop the event and let a list find the change instead (the burst list: rate-limited,
    // so a flood of events cannot buy a list each).
    state.counters.droppedEvents += 1;
    // Runs recorded before the event budget caught up with an immediate catch-up sync; keep replaying them so.
    if (patched(PATCHES.eventFetchBudget)) run.scheduleBurstList();
    else state.catchUpPending = true;
  } else {
    state.pendingEvents.push(event);
  }
  run.wake = true;
}

async function waitForSyncNow(run: AthleteSyncRun, mode: SyncNowMode): Promise<SyncResult> {
  const waiter: SyncNowWaiter = { done: false, mode };
  run.waiters.push(waiter);
  run.wake = true;
  await condition(() => waiter.done);
  if (waiter.failure) throw ApplicationFailure.create({ type: waiter.failure.type, message: waiter.failure.message, nonRetryable: true });
  return waiter.result!;
}

function validateSyncNow(run: AthleteSyncRun, request: SyncNowRequest | undefined): void {
  if (request !== undefined && request !== null && (typeof request !== 'object' || (request.mode !== undefined && request.mode !== 'quick' && request.mode !== 'full'))) {
    throw ApplicationFailure.create({ type: SYNC_NOW_REFUSALS.rejected, message: 'mode must be "quick" or "full"', nonRetryable: true });
  }
  if (run.ended || run.state.state === 'revoked' || run.state.disconnectPending) {
    throw ApplicationFailure.create({ type: 'SyncNowRejected', message: 'the athlete disconnected: nothing to sync', nonRetryable: true });
  }
  if (run.state.auth === 'needs_reauth') {
    throw ApplicationFailure.create({
      type: 'SyncNowRejected',
      message: 'the athlete must reconnect to Strava (the stored authorization is no longer valid) before syncing',
      nonRetryable: true,
    });
  }
  // Paused: the sync would call Strava. Rejected here, so the refusal never enters history.
  if (syncHeld(run.state)) throw ApplicationFailure.create({ type: SYNC_NOW_REFUSALS.paused, message: pausedMessage(run), nonRetryable: true });
}

/** The answer of the `status` query: ids, states, times and counts only. */
function athleteStatus(run: AthleteSyncRun): AthleteStatus {
  const { state } = run;
  const now = Date.now();
  const until = Math.max(0, ...Object.values(state.rateLimitedUntil).map((t) => t ?? 0));
  return {
    athleteId: run.athleteId,
    state: state.state,
    lastSyncAt: state.lastSyncAt,
    lastBackfillAt: state.lastBackfillAt,
    nextBackfillAt: state.nextBackfillAt,
    import: { done: state.import.done, pages: state.import.pages, imported: state.import.imported, before: state.import.before },
    pendingEvents: state.pendingEvents.length,
    pendingNotFoundRetries: Object.keys(state.notFound).length,
    deferredFetches: Object.keys(state.deferred).length,
    fetchTokens: refill(state.fetchBudget, run.budget, now).tokens,
    rateLimitedUntil: until > now ? iso(until) : null,
    pausedUntil: state.pausedUntil !== null ? iso(state.pausedUntil) : null,
    counters: { ...state.counters },
    lastError: state.lastError,
    resync: resyncProgress(state.resyncs[0]),
    queuedResyncs: Math.max(0, state.resyncs.length - 1),
    lastResync: state.lastResync,
    pausedBy: pausedBy(state),
    operatorPausedAt: state.operatorPausedAt,
    settings: {
      version: state.settingsVersion,
      backfillIntervalMs: run.opts.backfillIntervalMs,
      focusStaleAfterMs: run.opts.focusStaleAfterMs,
      fleetPaused: state.fleetPaused,
    },
    activitiesStored: state.activitiesStored,
    lastSyncTrigger: state.lastSyncTrigger,
  };
}

function resyncProgress(job: ResyncJob | undefined): AthleteStatus['resync'] {
  if (!job) return null;
  const { cursor, ...rest } = job;
  return { ...rest, listedUpTo: iso(cursor * 1000) };
}
