/**
 * The vocabulary of the sync history (migration 009): why a sync ran, how it ended, how a token refresh ended.
 * Constants only, shared by the workflow (types), the activities that record runs, the API that lists them and
 * the metrics that count them; every list here is closed, so each is a bounded Prometheus label too.
 */

/**
 * Why the workflow ran a Strava activity: a webhook event (fetch, deferred fetch, 404 retry, removal), the
 * background backfill, app focus, sync now (`POST /athletes/:id/sync`, `POST /admin/sync`), a page of the history
 * import, the first sync after a reconnect, the list of the recent window that answers a burst of events, or a
 * range re-sync (`POST /athletes/:id/resync`).
 */
export const SYNC_TRIGGERS = ['webhook', 'backfill', 'focus', 'manual', 'import_page', 'catch_up', 'burst', 'resync'] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

/**
 * Triggers whose changes were announced by a webhook (the events arrived; a burst list only answers them in one
 * request), and those whose changes no webhook announced: the repairs.
 */
export const WEBHOOK_DELIVERED_TRIGGERS: readonly SyncTrigger[] = ['webhook', 'burst'];
export const REPAIR_TRIGGERS: readonly SyncTrigger[] = ['backfill', 'focus', 'manual', 'catch_up', 'resync'];

/**
 * ok: the activity did its work; skipped: it ran but wrote nothing because a newer delete is recorded (or the
 * fetched activity is another athlete's); rate_limited: the rate budget or Strava's 429 refused the call;
 * failed: anything else the activity threw (failure_type says what).
 */
export const RUN_OUTCOMES = ['ok', 'failed', 'rate_limited', 'skipped'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** Which activity ran. */
export const RUN_ACTIVITIES = ['sync_window', 'import_page', 'fetch_activity', 'remove_activity', 'resync_page', 'finish_resync'] as const;
export type RunActivity = (typeof RUN_ACTIVITIES)[number];

/**
 * succeeded: Strava issued a new token pair; refused: Strava answered with a 4xx (a refresh token it no longer
 * accepts, the application's credentials refused); network_failed: no usable answer (connection error, timeout,
 * a 5xx, a body that is not a token).
 */
export const REFRESH_OUTCOMES = ['succeeded', 'refused', 'network_failed'] as const;
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];

/**
 * The webhook receipt time (epoch ms) of the newest of `events` (the ones at `eventTime`): the receipt whose
 * latency a fetch answering them measures. Undefined when none carries one (signals from before it existed).
 */
export function newestReceipt(events: readonly { eventTime: number; receivedAt?: number }[], eventTime: number): number | undefined {
  let newest: number | undefined;
  for (const event of events) {
    if (event.eventTime !== eventTime || typeof event.receivedAt !== 'number') continue;
    newest = newest === undefined ? event.receivedAt : Math.max(newest, event.receivedAt);
  }
  return newest;
}
