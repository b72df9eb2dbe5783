import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { FAILURE_TYPES, type NeedsReauthDetails } from '../domain/failure-types.js';
import { NeedsReauthError, StravaError, type StravaErrorKind } from '../strava/errors.js';

/**
 * The Temporal failure type each kind of Strava error becomes; undefined keeps the error as it is, so Temporal
 * retries it (a 5xx). The workflow handles every listed type itself: its retry policy lists them all as
 * nonRetryableErrorTypes.
 */
const FAILURE_TYPE_OF_KIND: Record<StravaErrorKind, string | undefined> = {
  rate_limited: FAILURE_TYPES.rateLimited,
  rate_budget_exhausted: FAILURE_TYPES.rateLimited,
  needs_reauth: FAILURE_TYPES.needsReauth,
  token_invalid: FAILURE_TYPES.needsReauth,
  missing_scope: FAILURE_TYPES.missingScope,
  app_forbidden: FAILURE_TYPES.appForbidden,
  bad_request: FAILURE_TYPES.badRequest,
  invalid_response: FAILURE_TYPES.badRequest,
  not_found: FAILURE_TYPES.notFound,
  server_error: undefined,
};

/** True when `error` is a Strava error of one of `kinds` (errors are told apart by kind, one way everywhere). */
export function isStravaError(error: unknown, ...kinds: StravaErrorKind[]): error is StravaError {
  return error instanceof StravaError && kinds.includes(error.kind);
}

/**
 * Turns a Strava error into the Temporal failure the workflow understands. Messages of Strava errors never contain
 * tokens; anything else is passed on unchanged (the SDK reduces it to its class name and message).
 */
export function toActivityFailure(error: unknown): unknown {
  if (!(error instanceof StravaError)) return error;
  const type = FAILURE_TYPE_OF_KIND[error.kind];
  if (type === undefined) return error;
  if (type === FAILURE_TYPES.rateLimited) {
    // Not marked nonRetryable here: whether a rate limit is retried is the caller's retry policy to say (the athlete
    // workflow lists RateLimited as non-retryable and waits out the window itself, reading the wait from details).
    const retryAfterMs = Math.max(1_000, error.retryAfterMs ?? 60_000);
    // Our own governor saying "not yet" is the budget working, not a failure: BENIGN keeps the SDK from logging
    // each refusal as a WARN (with a stack) and from counting it in the failure metrics. A 429 stays a warning.
    const category = error.kind === 'rate_budget_exhausted' ? ApplicationFailureCategory.BENIGN : undefined;
    return ApplicationFailure.create({ type, message: error.message, details: [{ retryAfterMs }], category });
  }
  if (type === FAILURE_TYPES.needsReauth) {
    // Strava refused the tokens themselves (not "no tokens stored"): the grant is gone, as after a revocation.
    const grantRevoked = error.kind === 'token_invalid' || (error instanceof NeedsReauthError && error.reason === 'refresh_token_invalid');
    const details: NeedsReauthDetails = { grantRevoked };
    return ApplicationFailure.create({ type, message: error.message, nonRetryable: true, details: [details] });
  }
  return ApplicationFailure.create({ type, message: error.message, nonRetryable: true });
}

/** Runs fn and rethrows its failure as a Temporal failure. */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toActivityFailure(error);
  }
}
