import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../domain/failure-types.js';

/**
 * Turns a Strava error into the Temporal failure the workflow understands. Errors are recognised by `name`
 * (the Strava error classes set it to their class name). Messages of Strava errors never contain tokens;
 * anything else is reduced to its class name and message.
 */
export function toActivityFailure(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const e = error as Error & { retryAfterMs?: number };
  switch (e.name) {
    case 'RateBudgetExhaustedError':
    case 'StravaRateLimitedError': {
      // The workflow lists RateLimited as non-retryable and waits out the window itself, reading it from details.
      const retryAfterMs = Math.max(1_000, e.retryAfterMs ?? 60_000);
      return ApplicationFailure.create({ type: FAILURE_TYPES.rateLimited, message: e.message, details: [{ retryAfterMs }] });
    }
    case 'NeedsReauthError':
    case 'StravaTokenInvalidError':
      return ApplicationFailure.create({ type: FAILURE_TYPES.needsReauth, message: e.message, nonRetryable: true });
    case 'StravaMissingScopeError':
      return ApplicationFailure.create({ type: FAILURE_TYPES.missingScope, message: e.message, nonRetryable: true });
    case 'StravaAppForbiddenError':
      return ApplicationFailure.create({ type: FAILURE_TYPES.appForbidden, message: e.message, nonRetryable: true });
    case 'StravaBadRequestError':
    case 'StravaInvalidResponseError':
      return ApplicationFailure.create({ type: FAILURE_TYPES.badRequest, message: e.message, nonRetryable: true });
    case 'StravaNotFoundError':
      return ApplicationFailure.create({ type: FAILURE_TYPES.notFound, message: e.message, nonRetryable: true });
    default:
      return error;
  }
}

/** Runs fn and rethrows its failure as a Temporal failure. */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toActivityFailure(error);
  }
}
