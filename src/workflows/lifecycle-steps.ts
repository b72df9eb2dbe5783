import { allHandlersFinished, condition, continueAsNew, log, patched } from '@temporalio/workflow';
import { FAILURE_TYPES, SYNC_NOW_REFUSALS } from '../domain/failure-types.js';
import { db, strava } from './strava-and-db-activities.js';
import type { AthleteSyncRun, StepResult } from './athlete-sync-run.js';
import { PATCHES } from './patches.js';
import type { AthleteSyncInput } from './athlete-state.js';

/**
 * The steps that change what the workflow is allowed to do: end it (disconnect, a confirmed deauthorization),
 * hand it over to a new run (continue-as-new), and the waits in which no Strava call is made (paused by an
 * operator until resumed, needs_reauth until `reconnected`, paused while Strava refuses the application).
 */

/** The athlete disconnected: revoke at Strava (best effort; only a rate limit makes it wait), then purge. */
export async function disconnect(run: AthleteSyncRun): Promise<StepResult> {
  if (run.state.auth !== 'needs_reauth') {
    const outcome = await run.callStrava(
      'realtime',
      () => strava.deauthorizeAthlete.executeWithOptions({ summary: 'deauthorize at Strava' }, [{ athleteId: run.athleteId }]),
      // Whatever else Strava answers, the athlete asked to leave: the purge goes ahead.
      { ignore: ['needs_reauth', 'app_forbidden', 'failed'] },
    );
    if (!outcome.ok && outcome.kind === 'rate_limited') return;
    // The athlete connected again while Strava was being told (the `reconnected` handler cancelled the disconnect):
    // they stay, with whatever grant Strava now holds (a refused one is purged at the next call).
    if (!run.state.disconnectPending) return;
  }
  return purgeAndEnd(run, 'disconnected by the athlete', { onlyIfDisconnectRequested: true });
}

/** A deauthorization event (unsigned): purge only when Strava no longer accepts the athlete's token. */
export async function verifyDeauthorization(run: AthleteSyncRun): Promise<StepResult> {
  const { state, athleteId } = run;
  state.deauthPending = false;
  // needs_reauth already proves the tokens are dead; verifying would need a token we do not have.
  if (state.auth !== 'needs_reauth') {
    // The check is one realtime call an unsigned event asked for: it takes a token of the event budget (nextStep
    // only chooses this step with one available, so a forged stream of deauthorizations costs the bucket).
    if (!run.takeFetchToken()) {
      state.deauthPending = true;
      return;
    }
    const outcome = await run.callStrava(
      'realtime',
      () => strava.verifyAuthorization.executeWithOptions({ summary: 'verify deauthorization (GET /athlete)' }, [{ athleteId }]),
      // needs_reauth is the answer that confirms the deauthorization, not a failure.
      { ignore: ['needs_reauth'], refundsToken: true },
    );
    if (!outcome.ok && outcome.kind !== 'needs_reauth') {
      // Verify again once the wait is over; an unexpected failure leaves the event unconfirmed.
      if (outcome.kind !== 'failed') state.deauthPending = true;
      return;
    }
    if (outcome.ok && outcome.value.authorized) {
      state.counters.staleDeauthorizations += 1;
      log.warn('deauthorization event ignored: Strava still accepts the athlete token (stale or forged event)', { athleteId });
      return;
    }
  }
  return purgeAndEnd(run, 'deauthorized at Strava');
}

async function purgeAndEnd(run: AthleteSyncRun, reason: string, options: { onlyIfDisconnectRequested?: boolean } = {}): Promise<StepResult> {
  const { athleteId } = run;
  const reconnects = run.reconnects;
  const { activitiesDeleted, purged } = await db.purgeAthlete.executeWithOptions({ summary: `purge athlete data (${reason})` }, [
    { athleteId, ...options },
  ]);
  if (purged === false) {
    // The athlete connected again after asking to disconnect (the OAuth callback withdrew the request before the
    // purge could run): nothing was purged, they stay, and a catch-up sync looks at what changed meanwhile.
    log.info('disconnect withdrawn by a reconnect; nothing purged', { athleteId });
    run.state.disconnectPending = false;
    run.state.catchUpPending = true;
    return;
  }
  log.info('athlete purged; workflow ends', { athleteId, reason, activitiesDeleted });
  run.ended = true;
  run.state.activitiesStored = 0;
  // purgeAthlete wrote athletes.state = 'revoked' in its transaction: setState only shows it.
  run.state.persistedState = 'revoked';
  await run.setState('revoked');
  run.resolveWaiters(run.waiters, { failure: { type: 'SyncNowRejected', message: 'the athlete disconnected' } });
  await condition(allHandlersFinished);
  // The athlete connected again while being purged (the OAuth callback's signal reached this run, not a new one):
  // a fresh run imports them again with their new tokens, instead of no workflow at all.
  if (run.reconnects > reconnects && patched(PATCHES.reconnectRestartsAfterPurge)) {
    log.info('athlete connected again during the purge; starting afresh', { athleteId });
    await continueAsNew<(input: AthleteSyncInput) => Promise<void>>({ athleteId, options: run.opts });
  }
  return 'ended';
}

/**
 * Carries the state into a new run once every handler has finished. A sync-now arriving meanwhile wins: the
 * loop serves it first (nextStep never continues as new with one waiting).
 */
export async function continueAsNewWhenQuiet(run: AthleteSyncRun): Promise<void> {
  await condition(() => allHandlersFinished() || run.syncNowWaiting());
  if (run.syncNowWaiting()) return;
  run.state.counters.continuedAsNew += 1;
  await continueAsNew<(input: AthleteSyncInput) => Promise<void>>({ athleteId: run.athleteId, options: run.opts, carried: run.state });
}

/**
 * Paused by an operator (this athlete, or the fleet): sync-now callers are told, and the loop sleeps until a
 * message. Events keep being recorded (the handlers queue them); `resume` or the settings lift the pause.
 */
export async function holdPaused(run: AthleteSyncRun): Promise<void> {
  run.resolveWaiters(run.waiters, { failure: { type: SYNC_NOW_REFUSALS.paused, message: pausedMessage(run) } });
  await run.setState('paused');
  await run.sleep();
}

/** Why a sync-now is refused while paused, and what lifts the pause. */
export function pausedMessage(run: AthleteSyncRun): string {
  return run.state.operatorPausedAt !== null
    ? `auto sync of athlete ${run.athleteId} is paused by an operator since ${run.state.operatorPausedAt}; POST /athletes/${run.athleteId}/resume lifts it`
    : 'auto sync is paused fleet-wide (settings: paused); PUT /admin/settings {"paused": false} lifts it';
}

/** needs_reauth: sync-now callers are told, and the loop sleeps until a message (only `reconnected` helps). */
export async function awaitReconnect(run: AthleteSyncRun): Promise<void> {
  run.resolveWaiters(run.waiters, { failure: { type: FAILURE_TYPES.needsReauth, message: 'the athlete must reconnect to Strava before syncing' } });
  await run.setState('needs_reauth');
  await run.sleep();
}

/** Strava refuses the application: sync-now callers are told, and the loop sleeps until the back-off ends. */
export async function waitOutPause(run: AthleteSyncRun): Promise<void> {
  const pausedUntil = run.state.pausedUntil ?? Date.now();
  run.resolveWaiters(run.waiters, { failure: { type: FAILURE_TYPES.appForbidden, message: 'Strava currently refuses this application; syncing is paused' } });
  await run.setState('paused');
  await run.sleep(Math.max(1, pausedUntil - Date.now()));
}

/** The back-off is over: the next Strava call shows whether the application is still refused. */
export async function endPause(run: AthleteSyncRun): Promise<void> {
  run.state.pausedUntil = null;
}
