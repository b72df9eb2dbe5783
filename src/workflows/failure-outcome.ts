import { ActivityFailure, ApplicationFailure, CancelledFailure, TemporalFailure } from '@temporalio/workflow';
import { FAILURE_TYPES, type NeedsReauthDetails } from '../domain/failure-types.js';

/**
 * What a failed Strava activity means to the athlete workflow, read from the Temporal failure type the activity
 * raised (src/activities/failures.ts picks the type): wait out a rate limit, stop until the athlete reconnects,
 * pause while Strava refuses the app, or give up on this one call.
 */

export type StravaFailure =
  | { kind: 'rate_limited'; type: string; message: string; retryAfterMs: number }
  | { kind: 'needs_reauth'; type: string; message: string; grantRevoked: boolean }
  | { kind: 'app_forbidden' | 'failed'; type: string; message: string };

export type FailureKind = StravaFailure['kind'];

/** The result of one Strava call as the steps see it: the value, or the failure already classified. */
export type StravaOutcome<T> = { ok: true; value: T } | ({ ok: false } & StravaFailure);

/** Shortest wait after a rate limit, and the wait when the activity named none. */
const MIN_RATE_LIMIT_WAIT_MS = 1_000;
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/**
 * Classifies an activity failure (no side effects). A local activity's failure can arrive unwrapped (the
 * ApplicationFailure itself, or a timeout), so any Temporal failure but a cancellation counts; anything else
 * (a bug in workflow code, the workflow being cancelled) is rethrown.
 */
export function failureOutcome(error: unknown): StravaFailure {
  if (!(error instanceof TemporalFailure) || error instanceof CancelledFailure) throw error;
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error');
  const message = cause?.message ?? error.message;
  if (type === FAILURE_TYPES.rateLimited) {
    const details = cause instanceof ApplicationFailure ? (cause.details?.[0] as { retryAfterMs?: number } | undefined) : undefined;
    const retryAfterMs = Math.max(MIN_RATE_LIMIT_WAIT_MS, details?.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS);
    return { kind: 'rate_limited', type, message, retryAfterMs };
  }
  if (type === FAILURE_TYPES.needsReauth || type === FAILURE_TYPES.missingScope) {
    const details = cause instanceof ApplicationFailure ? (cause.details?.[0] as Partial<NeedsReauthDetails> | undefined) : undefined;
    return { kind: 'needs_reauth', type, message, grantRevoked: type === FAILURE_TYPES.needsReauth && details?.grantRevoked === true };
  }
  if (type === FAILURE_TYPES.appForbidden) return { kind: 'app_forbidden', type, message };
  return { kind: 'failed', type, message };
}
