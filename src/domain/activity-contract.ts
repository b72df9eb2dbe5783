import type { FleetLoad } from './fleet-load.js';
import type { SyncTrigger } from './sync-history.js';
import type { Priority, SyncState } from './sync-types.js';

/**
 * Arguments and results of the athlete activities. They land in workflow history, so they hold ids, counts,
 * times and states only: never a token, never an activity name or any other personal data.
 *
 * `trigger` says why the workflow runs the activity: the sync history records it with each run. Inputs scheduled
 * by code from before the sync history may lack it; the activities then assume the likeliest trigger.
 */

export interface ImportPageInput {
  athleteId: number;
  /** List activities that started before this epoch second (null: the newest page). */
  before: number | null;
  perPage: number;
  trigger: SyncTrigger;
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
  /** Activities stored for the athlete after this page (absent in results recorded before it was counted). */
  stored?: number;
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
  trigger: SyncTrigger;
  /** Backfills: when the backfill was due (epoch ms), to tell whether it ran late. */
  dueAt?: number;
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
  /** Activities stored for the athlete after this sync (absent in results recorded before it was counted). */
  stored?: number;
  /** Access tokens the vault refreshed during the listing (absent in results recorded before it was counted). */
  tokensRefreshed?: number;
}

export interface FetchActivityInput {
  athleteId: number;
  activityId: number;
  priority: Priority;
  /** event_time (s) of the event that asked for the fetch; unsigned input, clamped to [0, now] before use. */
  eventTime: number;
  trigger: SyncTrigger;
  /** When the API received that event (epoch ms), for the receipt -> row latency; absent for older signals. */
  receivedAt?: number;
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
  trigger: SyncTrigger;
  /** When the API received the event behind the removal (epoch ms), when known. */
  receivedAt?: number;
}

export interface ResyncPageInput {
  athleteId: number;
  /** The range re-sync this page belongs to (its listed ids are recorded under it until it finishes). */
  resyncId: string;
  /** Epoch seconds: list activities that started after this (exclusive), oldest first... */
  after: number;
  /** ...and before this (exclusive): the window's end. */
  before: number;
  perPage: number;
}

export interface ResyncPageResult {
  listed: number;
  added: number;
  updated: number;
  /** Latest start_date (epoch s) on the page (pages come oldest first): the next page lists after it; null when empty. */
  newestStart: number | null;
  requests: number;
}

export interface FinishResyncInput {
  athleteId: number;
  resyncId: string;
  /** The whole window (epoch s, both exclusive), as requested. */
  after: number;
  before: number;
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
  /** The backfill the workflow planned (dueAt: epoch ms), the denominator of the backfill completion rate. */
  recordBackfillPlan(input: { athleteId: number; dueAt: number }): Promise<void>;
  fleetLoad(input: { athleteId: number }): Promise<FleetLoad>;
  verifyAuthorization(input: { athleteId: number }): Promise<VerifyAuthorizationResult>;
  deauthorizeAthlete(input: { athleteId: number }): Promise<{ requests: number }>;
  /**
   * onlyIfDisconnectRequested: the purge of a disconnect, skipped (purged: false) when the athlete connected again
   * since asking. `purged` is absent in results recorded before it existed (they always purged).
   */
  purgeAthlete(input: { athleteId: number; onlyIfDisconnectRequested?: boolean }): Promise<{ activitiesDeleted: number; purged?: boolean }>;
  /** One page of a range re-sync (background priority): list, upsert, remember what Strava returned. */
  resyncPage(input: ResyncPageInput): Promise<ResyncPageResult>;
  /** The end of a range re-sync: removes stored activities of the window Strava did not return. */
  finishResync(input: FinishResyncInput): Promise<{ deleted: number }>;
}
