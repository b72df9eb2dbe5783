import type { PauseCause } from '../domain/fleet-settings.js';
import type { AthleteSyncOptions } from '../domain/sync-options.js';
import type { Priority, SyncState } from '../domain/sync-types.js';
import type { AthleteWorkflowState } from './athlete-state.js';
import { nextTokenAt, refill, type BudgetShape } from './fetch-budget.js';

/**
 * The athlete workflow's decisions, as pure functions of its state and the time: which step runs next, which
 * state it shows while resting, and when it must wake up. No Temporal API here, so test/unit checks every rule
 * without a server; the steps themselves are in *-steps.ts and run by AthleteSyncRun.
 */

/** Every step of the main loop, in the order of precedence nextStep applies. */
export const STEPS = [
  'disconnect', // purge after the athlete disconnected (revokes at Strava first)
  'verifyDeauthorization', // a deauthorization event: check with Strava, purge if it holds
  'continueAsNew', // history long enough: carry the state into a new run
  'holdPaused', // an operator paused the athlete or the fleet: no Strava call until resumed
  'awaitReconnect', // needs_reauth: no Strava call until `reconnected`
  'waitOutPause', // Strava refuses the app: wait out the back-off
  'endPause', // the back-off is over
  'applyEvents', // webhook events waiting
  'retryNotFound', // a fetch that 404ed after a create is due again
  'burstList', // the event budget ran out: one list of the recent window
  'fetchDeferred', // events deferred for lack of budget, and a token is free
  'serveSyncNow', // a sync-now update is waiting
  'focusSync', // the app gained focus
  'catchUp', // first sync after a reconnect
  'importPage', // the history import is not finished
  'planBackfill', // the import finished: plan the first backfill
  'resyncPage', // a range re-sync is waiting (background priority)
  'backfill', // the backfill timer is due
  'rest', // nothing to do: show the resting state and sleep until the next timer or message
] as const;
export type Step = (typeof STEPS)[number];

/** What nextStep needs beyond the carried state. */
export interface StepInputs {
  /** Epoch ms (workflow time). */
  now: number;
  budget: BudgetShape;
  /** A sync-now update is waiting for its answer. */
  syncNowWaiting: boolean;
  /** The server suggests continue-as-new, or the history reached continueAsNewAfterEvents. */
  continueAsNewDue: boolean;
  /** A focus waits while the interactive share is rate limited (patch defer-focus-while-rate-limited). */
  deferFocus?: boolean;
}

/** An operator paused auto sync, for this athlete or fleet-wide: no Strava call is made (events are kept). */
export function syncHeld(state: AthleteWorkflowState): boolean {
  return state.operatorPausedAt !== null || state.fleetPaused;
}

/** Why auto sync is paused, the operator's choice first: the cause an operator can lift (null: not paused). */
export function pausedBy(state: AthleteWorkflowState): PauseCause | null {
  if (state.operatorPausedAt !== null) return 'operator';
  if (state.fleetPaused) return 'fleet';
  return state.pausedUntil !== null ? 'strava' : null;
}

/** The governor would refuse calls of this priority until a rate window passes. */
export function isBlocked(state: AthleteWorkflowState, priority: Priority, now: number): boolean {
  return (state.rateLimitedUntil[priority] ?? 0) > now;
}

/** Import and backfill wait: rate limited, or holding back after an unexpected failure. */
export function backgroundHeld(state: AthleteWorkflowState, now: number): boolean {
  return isBlocked(state, 'background', now) || (state.backgroundHoldUntil ?? 0) > now;
}

export function backfillDue(state: AthleteWorkflowState, now: number): boolean {
  return state.import.done && state.nextBackfillAt !== null && Date.parse(state.nextBackfillAt) <= now;
}

export function fetchTokenAvailable(state: AthleteWorkflowState, budget: BudgetShape, now: number): boolean {
  return refill(state.fetchBudget, budget, now).tokens >= 1;
}

/** A focus signal syncs only when the last successful sync is older than focusStaleAfterMs. */
export function focusFindsStale(state: AthleteWorkflowState, now: number, opts: Pick<AthleteSyncOptions, 'focusStaleAfterMs'>): boolean {
  return state.lastSyncAt === null || now - Date.parse(state.lastSyncAt) > opts.focusStaleAfterMs;
}

/** The one step to run now: the first rule that holds, in the order of STEPS. */
export function nextStep(state: AthleteWorkflowState, inputs: StepInputs): Step {
  const { now, budget } = inputs;
  const blocked = (priority: Priority) => isBlocked(state, priority, now);
  const held = syncHeld(state);
  // The athlete asked to leave: even a paused workflow deauthorizes (one call) and purges.
  if (state.disconnectPending && !blocked('realtime')) return 'disconnect';
  // Checking a deauthorization calls Strava, except in needs_reauth (the dead token already proves it).
  if (state.deauthPending && !blocked('realtime') && (state.auth === 'needs_reauth' || (!held && fetchTokenAvailable(state, budget, now)))) {
    return 'verifyDeauthorization';
  }
  // Never with a sync-now waiting: its caller would lose the answer.
  if (inputs.continueAsNewDue && !inputs.syncNowWaiting) return 'continueAsNew';
  if (held) return 'holdPaused';
  if (state.auth === 'needs_reauth') return 'awaitReconnect';
  if (state.pausedUntil !== null) return state.pausedUntil > now ? 'waitOutPause' : 'endPause';
  if (state.pendingEvents.length > 0 && !blocked('realtime')) return 'applyEvents';
  if (Object.values(state.notFound).some((retry) => retry.dueAt <= now) && !blocked('realtime')) return 'retryNotFound';
  if (state.burstListPending && (state.burstListNotBefore ?? 0) <= now && !blocked('interactive')) return 'burstList';
  if (Object.keys(state.deferred).length > 0 && fetchTokenAvailable(state, budget, now) && !blocked('realtime')) return 'fetchDeferred';
  if (inputs.syncNowWaiting) return 'serveSyncNow';
  if (state.focusPending && !(inputs.deferFocus && blocked('interactive'))) return 'focusSync';
  if (state.catchUpPending && !blocked('interactive')) return 'catchUp';
  if (!state.import.done && !backgroundHeld(state, now)) return 'importPage';
  if (state.import.done && state.nextBackfillAt === null) return 'planBackfill';
  if (state.resyncs.length > 0 && state.import.done && !backgroundHeld(state, now)) return 'resyncPage';
  if (backfillDue(state, now) && !backgroundHeld(state, now)) return 'backfill';
  return 'rest';
}

/**
 * Webhook events may be applied while a background call (an import or re-sync page, a backfill) waits in its
 * queue: they are waiting, realtime is not rate limited, and nothing the main loop must decide first (a pause, a
 * reconnect, a disconnect or a deauthorization to verify) stands in the way.
 */
export function eventsApplicableMeanwhile(state: AthleteWorkflowState, now: number): boolean {
  return (
    state.pendingEvents.length > 0 &&
    !isBlocked(state, 'realtime', now) &&
    !syncHeld(state) &&
    state.auth === 'ok' &&
    state.pausedUntil === null &&
    !state.disconnectPending &&
    !state.deauthPending
  );
}

/** The state shown (and persisted) while the workflow sleeps. */
export function restingState(state: AthleteWorkflowState, now: number): SyncState {
  if (syncHeld(state)) return 'paused';
  if (state.auth === 'needs_reauth') return 'needs_reauth';
  if (state.pausedUntil !== null) return 'paused';
  const blocked = (priority: Priority) => isBlocked(state, priority, now);
  const waitingForBudget =
    (blocked('background') && (!state.import.done || backfillDue(state, now))) ||
    (blocked('realtime') && (state.pendingEvents.length > 0 || Object.keys(state.notFound).length > 0)) ||
    (blocked('interactive') && state.catchUpPending) ||
    (blocked('background') && state.resyncs.length > 0);
  if (waitingForBudget) return 'rate_limited';
  return state.import.done ? 'idle' : 'importing';
}

/** Epoch ms of the earliest timer the sleeping workflow must wake for (undefined: only a message wakes it). */
export function nextWakeAt(state: AthleteWorkflowState, now: number, budget: BudgetShape): number | undefined {
  // Paused by an operator or waiting for a reconnect: only a message can change anything.
  if (state.auth !== 'ok' || syncHeld(state)) return undefined;
  const times: number[] = [];
  if (state.pausedUntil !== null) times.push(state.pausedUntil);
  if (state.import.done && state.nextBackfillAt !== null) times.push(Date.parse(state.nextBackfillAt));
  for (const retry of Object.values(state.notFound)) times.push(retry.dueAt);
  if (Object.keys(state.deferred).length > 0) times.push(nextTokenAt(state.fetchBudget, budget, now));
  if (state.burstListPending && state.burstListNotBefore !== null) times.push(state.burstListNotBefore);
  if (state.deauthPending) times.push(nextTokenAt(state.fetchBudget, budget, now));
  for (const until of Object.values(state.rateLimitedUntil)) if (until !== undefined && until > now) times.push(until);
  if (state.backgroundHoldUntil !== null && state.backgroundHoldUntil > now) times.push(state.backgroundHoldUntil);
  return times.length > 0 ? Math.min(...times) : undefined;
}
