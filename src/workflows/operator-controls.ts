import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { FleetSettings } from '../domain/fleet-settings.js';
import type { AthleteWorkflowState } from './athlete-state.js';
import { iso, type AthleteSyncRun } from './athlete-sync-run.js';
import { syncHeld } from './next-step.js';
import { settingsVersionKey } from './search-attributes.js';

/**
 * What an operator changes in a running athlete workflow: the per-athlete pause and resume, and the settings
 * (backfill interval, focus staleness, fleet-wide pause). Called by the handlers; they only change the state
 * and wake the loop, which acts on it (next-step.ts: `holdPaused` while paused).
 */

export function pauseByOperator(run: AthleteSyncRun): void {
  run.state.operatorPausedAt ??= iso(Date.now());
  run.wake = true;
}

export function resumeByOperator(run: AthleteSyncRun): void {
  if (run.state.operatorPausedAt === null) return;
  run.state.operatorPausedAt = null;
  if (!syncHeld(run.state)) arrangeCatchUp(run.state, Date.now());
  run.wake = true;
}

/** Applies settings newer than the ones the workflow has (repeats and late, older broadcasts change nothing). */
export function applySettings(run: AthleteSyncRun, settings: FleetSettings): void {
  const { state, opts } = run;
  if (!(settings.version > state.settingsVersion)) {
    // Sent again because the search attribute does not show the version: show it, or every pass would send it.
    if (workflowInfo().typedSearchAttributes.get(settingsVersionKey) !== state.settingsVersion) {
      upsertSearchAttributes([{ key: settingsVersionKey, value: state.settingsVersion }]);
    }
    return;
  }
  const wasHeld = syncHeld(state);
  const intervalChanged = settings.backfillIntervalMs !== opts.backfillIntervalMs;
  state.settingsVersion = settings.version;
  opts.backfillIntervalMs = settings.backfillIntervalMs;
  opts.focusStaleAfterMs = settings.focusStaleAfterMs;
  state.fleetPaused = settings.paused;
  // The planned backfill used the old interval: plan again (planBackfill step: fleet load, new interval, jitter).
  if (intervalChanged && state.import.done) state.nextBackfillAt = null;
  if (wasHeld && !syncHeld(state)) arrangeCatchUp(state, Date.now());
  upsertSearchAttributes([{ key: settingsVersionKey, value: settings.version }]);
  run.wake = true;
}

/**
 * After a pause, ONE sync catches up: the backfill, due now, lists everything since the last backfill (minus the
 * overlap), which covers what a focus, catch-up or burst list owed from the pause would have listed. The events
 * recorded meanwhile are applied first (applyEvents precedes backfill). During an import, the import goes on.
 */
export function arrangeCatchUp(state: AthleteWorkflowState, now: number): void {
  if (!state.import.done) return;
  state.nextBackfillAt = iso(now);
  state.focusPending = false;
  state.catchUpPending = false;
  state.burstListPending = false;
}
