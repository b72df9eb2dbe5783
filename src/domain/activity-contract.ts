import type { FleetLoad } from './fleet-load.js';
import type { Priority, SyncState } from './sync-types.js';

/**
 * Arguments and results of the athlete activities. They land in workflow history, so they hold ids, counts,
 * times and states only: never a token, never an activity name or any other personal data.
 */

export interface ImportPageInput {
  athleteId: number;
  /** List activities that started before this epoch second (null: the newest page). */
  before: number | null;
  perPage: number;
}

export interface ImportPageResult {
  listed: number;
  added: number;
  updated: number;
  /** Listed activities not written because a newer delete is recorded for them. */
  skipped: number;
  /** Smallest start_date (epoch s) on the page, null on an empty page. */
  oldestStart: number | null;
  requests: number;
}

export interface SyncWindowInput {
  athleteId: number;
  /** Lists activities that started after this epoch second and reconciles the stored ones in that window. */
  after: number;
  priority: Priority;
  kind: 'backfill' | 'quick';
  perPage?: number;
  /** Activity ids the caller is looking for (deferred event fetches); the result says which were listed. */
  watch?: number[];
}

export interface SyncWindowResult {
  listed: number;
  added: number;
  updated: number;
  deleted: number;
  /** Differences a webhook should have delivered: added + typed-column changes + deletions. */
  repaired: number;
  requests: number;
  /** Epoch ms at which the listing started: the time the sync is recorded as. */
  syncedAt: number;
  /** The ids of `watch` that the listing returned (absent when nothing was watched). */
  found?: number[];
}

export interface FetchActivityInput {
  athleteId: number;
  activityId: number;
  priority: Priority;
  /** event_time (s) of the event that asked for the fetch; unsigned input, clamped to [0, now] before use. */
  eventTime: number;
}

export interface FetchActivityResult {
  outcome: 'upserted' | 'not_found' | 'superseded';
  added: boolean;
  changed: boolean;
  requests: number;
}

export interface RemoveActivityInput {
  athleteId: number;
  activityId: number;
  /**
   * event_time (s) of the delete (or of the event whose fetch gave up): older observations never resurrect it.
   * Unsigned input: clamped to [0, now] (a value that is no time is "now"), so it never fails the activity.
   */
  eventTime: number;
}

export interface VerifyAuthorizationResult {
  authorized: boolean;
  requests: number;
}

export interface AthleteActivities {
  importPage(input: ImportPageInput): Promise<ImportPageResult>;
  syncWindow(input: SyncWindowInput): Promise<SyncWindowResult>;
  fetchActivity(input: FetchActivityInput): Promise<FetchActivityResult>;
  removeActivity(input: RemoveActivityInput): Promise<{ deleted: boolean }>;
  recordAthleteState(input: { athleteId: number; state: SyncState }): Promise<void>;
  recordSyncTime(input: { athleteId: number; at: number; kind: 'sync' | 'backfill' }): Promise<void>;
  fleetLoad(input: { athleteId: number }): Promise<FleetLoad>;
  verifyAuthorization(input: { athleteId: number }): Promise<VerifyAuthorizationResult>;
  deauthorizeAthlete(input: { athleteId: number }): Promise<{ requests: number }>;
  /**
   * onlyIfDisconnectRequested: the purge of a disconnect, skipped (purged: false) when the athlete connected again
   * since asking. `purged` is absent in results recorded before it existed (they always purged).
   */
  purgeAthlete(input: { athleteId: number; onlyIfDisconnectRequested?: boolean }): Promise<{ activitiesDeleted: number; purged?: boolean }>;
}
