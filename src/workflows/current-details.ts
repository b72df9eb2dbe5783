import type { AthleteWorkflowState } from './athlete-state.js';
import { pausedBy, type Step } from './next-step.js';

/**
 * The workflow's "current details" in the Temporal UI (setCurrentDetails, read through the
 * `__temporal_workflow_metadata` query; not part of the history): what the workflow is doing, what comes next,
 * and the few numbers an operator looks at first. Ids, counts, times and failure types only: never a name, a
 * message from Strava or a token. Pure, so it is tested without a server.
 */

const DOING: Record<Step, string> = {
  disconnect: 'disconnecting: deauthorize at Strava, then purge',
  verifyDeauthorization: 'checking a deauthorization event with Strava',
  continueAsNew: 'continuing as new (history is long)',
  holdPaused: 'paused: no Strava call until resumed',
  awaitReconnect: 'waiting for the athlete to reconnect (needs_reauth)',
  waitOutPause: 'waiting: Strava refuses the application (403 back-off)',
  endPause: 'ending the 403 back-off',
  applyEvents: 'applying webhook events',
  retryNotFound: 'fetching activities that answered 404 again',
  burstList: 'listing recent activities instead of event fetches (burst)',
  fetchDeferred: 'fetching activities deferred by the event budget',
  serveSyncNow: 'sync now',
  focusSync: 'app focus: quick sync if stale',
  catchUp: 'catching up after a reconnect',
  importPage: 'importing the history',
  planBackfill: 'planning the next backfill',
  resyncPage: 'range re-sync: listing a requested window',
  backfill: 'backfilling',
  rest: 'resting',
};

const iso = (ms: number) => new Date(ms).toISOString();

export interface DetailsInput {
  state: AthleteWorkflowState;
  step: Step;
  /** Epoch ms the resting workflow wakes at (undefined: on the next message only; the 403 wait knows its own). */
  wakeAt?: number;
}

export function currentDetails({ state, step, wakeAt }: DetailsInput): string {
  const cause = pausedBy(state);
  let doing = DOING[step];
  if (step === 'importPage') doing += ` (page ${state.import.pages + 1}, ${state.import.imported} imported)`;
  if (step === 'rest' || step === 'holdPaused' || step === 'awaitReconnect' || step === 'waitOutPause') {
    const wake = step === 'waitOutPause' ? (state.pausedUntil ?? undefined) : wakeAt;
    doing += wake !== undefined ? `; wakes at ${iso(wake)}` : '; wakes on the next message';
  }
  const lines = [
    `**${state.state}** · ${doing}`,
    `- next backfill: ${state.nextBackfillAt ?? (state.import.done ? 'to be planned' : 'after the import')}`,
    `- activities stored: ${state.activitiesStored ?? 'not counted yet'}`,
    `- last sync: ${state.lastSyncAt === null ? 'never' : `${state.lastSyncAt} (${state.lastSyncTrigger ?? 'unknown'})`}`,
    `- pending events: ${state.pendingEvents.length}` +
      (Object.keys(state.deferred).length > 0 ? ` (+ ${Object.keys(state.deferred).length} deferred fetches)` : ''),
    `- last error: ${state.lastError === null ? 'none' : `${state.lastError.type} at ${state.lastError.at}`}`,
  ];
  if (cause === 'operator') lines.push(`- paused by: operator since ${state.operatorPausedAt}`);
  else if (cause === 'fleet') lines.push('- paused by: fleet (settings)');
  else if (cause === 'strava') lines.push(`- paused by: strava (403) until ${iso(state.pausedUntil!)}`);
  if (state.auth === 'needs_reauth') lines.push('- the athlete must reconnect (needs_reauth)');
  lines.push(`- settings version: ${state.settingsVersion}`);
  return lines.join('\n');
}
