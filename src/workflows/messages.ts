import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StravaEventSignal, SyncResult } from '../domain/sync-types.js';
import type { AthleteStatus } from './athlete-state.js';

/** Every message the athlete workflow understands; shared by the workflow and every client. */
export const statusQuery = defineQuery<AthleteStatus>('status');
export const stravaEventSignal = defineSignal<[StravaEventSignal]>('stravaEvent');
export const appFocusSignal = defineSignal<[]>('appFocus');
export const reconnectedSignal = defineSignal<[]>('reconnected');
export const disconnectSignal = defineSignal<[]>('disconnect');
export const syncNowUpdate = defineUpdate<SyncResult, []>('syncNow');

/** A range re-sync of one window (epoch seconds, both exclusive); `id` names it in status and logs. */
export interface ResyncRequest {
  id: string;
  after: number;
  before: number;
}
export const resyncRangeSignal = defineSignal<[ResyncRequest]>('resyncRange');
