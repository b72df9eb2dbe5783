import type { AthleteSyncRun, StepResult } from './athlete-sync-run.js';
import { applyEvents, burstList, fetchDeferred, retryNotFound } from './event-steps.js';
import { awaitReconnect, continueAsNewWhenQuiet, disconnect, endPause, holdPaused, verifyDeauthorization, waitOutPause } from './lifecycle-steps.js';
import type { Step } from './next-step.js';
import { resyncPage } from './resync-steps.js';
import { backfill, catchUp, focusSync, importPage, planNextBackfill, serveSyncNow } from './sync-steps.js';

/** Which function runs each step that nextStep can choose (next-step.ts says when; the *-steps.ts modules say how). */
const STEP_RUNNERS: Record<Exclude<Step, 'rest'>, (run: AthleteSyncRun) => Promise<StepResult>> = {
  disconnect,
  verifyDeauthorization,
  continueAsNew: continueAsNewWhenQuiet,
  holdPaused,
  awaitReconnect,
  waitOutPause,
  endPause,
  applyEvents,
  retryNotFound,
  burstList,
  fetchDeferred,
  serveSyncNow,
  focusSync,
  catchUp,
  importPage,
  planBackfill: planNextBackfill,
  resyncPage,
  backfill,
};

export function runStep(run: AthleteSyncRun, step: Exclude<Step, 'rest'>): Promise<StepResult> {
  return STEP_RUNNERS[step](run);
}
