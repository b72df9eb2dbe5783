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

/** The activity retry policy's nonRetryableErrorTypes: every type above. */
export const HANDLED_FAILURE_TYPES: string[] = Object.values(FAILURE_TYPES);
