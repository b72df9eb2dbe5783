/**
 * The patch ids of the athlete workflow (`patched(id)`): runs recorded before a change replay the commands they
 * recorded, new runs take the new path. Never rename or remove one while a run recorded before it may still be
 * open (docs/workflow.md, "Changing the workflow").
 */
export const PATCHES = {
  /** A delete event fetches the activity first and removes it only when Strava answers 404. */
  confirmDeletes: 'confirm-deletes-with-strava',
  /** Event-triggered fetches take a token of the per-athlete budget; without one they are deferred. */
  eventFetchBudget: 'event-fetch-budget',
  /** A focus while the interactive share is rate limited stays owed until it is free again (it used to be dropped). */
  deferFocus: 'defer-focus-while-rate-limited',
  /** A new activity Strava confirmed pulls a far-off backfill in to the base interval. */
  pullInBackfill: 'pull-in-backfill-on-new-activity',
  /** Each planned backfill is recorded (backfill_plans), so one that never runs counts as late. */
  recordBackfillPlan: 'record-backfill-plan',
  /** Strava refusing the athlete's tokens themselves (a revoked grant) purges like a confirmed deauthorization. */
  purgeRevokedGrant: 'purge-revoked-grant',
  /** A `reconnected` signal cancels a disconnect the workflow has not carried out yet. */
  reconnectCancelsDisconnect: 'reconnect-cancels-disconnect',
  /** A `reconnected` signal that reaches a run while it purges makes it continue as new, afresh, instead of ending. */
  reconnectRestartsAfterPurge: 'reconnect-restarts-after-purge',
  /**
   * The fetch an event triggers runs as a local activity: one workflow task per event instead of two plus an
   * activity task (bench/freshness: the Temporal round trips were where event-to-visible time went under load).
   */
  localEventFetch: 'event-fetch-as-local-activity',
  /** Import pages, backfills and re-sync pages go to the background task queue (src/domain/task-queues.ts). */
  backgroundTaskQueue: 'background-task-queue',
  /** A rest for the same instant as the last one keeps its timer instead of cancelling it and starting another. */
  keepRestTimer: 'keep-rest-timer',
  /** Webhook events are applied while a background call waits in its queue, not only after it. */
  eventsDuringBackgroundCall: 'events-during-background-call',
} as const;
