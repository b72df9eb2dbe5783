/**
 * The failure types the activities raise for Strava answers that a blind retry cannot fix; the athlete workflow
 * handles each one itself (waits out a rate limit, asks for re-authorization, ...). Constants only, so the
 * workflow bundle can import them.
 */
export const FAILURE_TYPES = {
  rateLimited: 'RateLimited',
  needsReauth: 'NeedsReauth',
  missingScope: 'MissingScope',
  appForbidden: 'AppForbidden',
  badRequest: 'StravaBadRequest',
  notFound: 'StravaNotFound',
} as const;

/**
 * Details of a NeedsReauth failure. `grantRevoked`: Strava refused the athlete's tokens themselves (the refresh token
 * rejected, or a 401 on an access token within its lifetime), which happens when the athlete revokes the app: the
 * workflow purges as for a confirmed deauthorization, even when the deauthorization event never arrived.
 */
export interface NeedsReauthDetails {
  grantRevoked: boolean;
}

/** The activity retry policy's nonRetryableErrorTypes: every type above. */
export const HANDLED_FAILURE_TYPES: string[] = Object.values(FAILURE_TYPES);

/** Why the workflow itself refuses a sync-now (update failure types, never raised by an activity). */
export const SYNC_NOW_REFUSALS = {
  /** Nothing to sync: the athlete disconnected or must reconnect first. */
  rejected: 'SyncNowRejected',
  /** Auto sync is paused (by an operator for this athlete, or fleet-wide): no Strava call until it resumes. */
  paused: 'SyncPaused',
} as const;
