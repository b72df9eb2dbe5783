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
