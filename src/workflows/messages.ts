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
