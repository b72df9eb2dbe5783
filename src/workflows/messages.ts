import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FleetSettings } from '../domain/fleet-settings.js';
import type { StravaEventSignal, SyncNowRequest, SyncResult } from '../domain/sync-types.js';
import type { AthleteStatus } from './athlete-state.js';

/** Every message the athlete workflow understands; shared by the workflow and every client. */
export const statusQuery = defineQuery<AthleteStatus>('status');
export const stravaEventSignal = defineSignal<[StravaEventSignal]>('stravaEvent');
export const appFocusSignal = defineSignal<[]>('appFocus');
export const reconnectedSignal = defineSignal<[]>('reconnected');
export const disconnectSignal = defineSignal<[]>('disconnect');
export const syncNowUpdate = defineUpdate<SyncResult, []>('syncNow');
/**
 * The same update (same name) with its argument, for callers that choose a mode (the batch sync). The workflow
 * registers its handler through this one and takes the argument as optional: callers and recorded histories
 * from before modes existed send none, and a typed optional argument would not fit the SDK's no-argument calls.
 */
export const syncNowWithModeUpdate = defineUpdate<SyncResult, [SyncNowRequest]>('syncNow');
/** An operator pauses this athlete's auto sync (POST /athletes/:id/pause): events are kept, Strava is not called. */
export const pauseSignal = defineSignal<[]>('pause');
/** An operator resumes it (POST /athletes/:id/resume): one catch-up sync, then the queued events. */
export const resumeSignal = defineSignal<[]>('resume');
/** The settings changed (PUT /admin/settings): sent to every running workflow that has an older version. */
export const settingsSignal = defineSignal<[FleetSettings]>('settings');

/** A range re-sync of one window (epoch seconds, both exclusive); `id` names it in status and logs. */
export interface ResyncRequest {
  id: string;
  after: number;
  before: number;
}
export const resyncRangeSignal = defineSignal<[ResyncRequest]>('resyncRange');
