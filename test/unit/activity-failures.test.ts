import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { isStravaError, toActivityFailure } from '../../src/activities/failures.js';
import { FAILURE_TYPES } from '../../src/domain/failure-types.js';
import {
  NeedsReauthError,
  RateBudgetExhaustedError,
  StravaAppForbiddenError,
  StravaInvalidResponseError,
  StravaMissingScopeError,
  StravaNotFoundError,
  StravaRateLimitedError,
  StravaServerError,
  StravaTokenInvalidError,
} from '../../src/strava/errors.js';

describe('toActivityFailure (Strava errors -> the failure types the workflow handles)', () => {
  it.each([
    [new StravaTokenInvalidError('401'), FAILURE_TYPES.needsReauth],
    [new NeedsReauthError(1, 'refresh_token_invalid'), FAILURE_TYPES.needsReauth],
    [new StravaMissingScopeError('401 scope'), FAILURE_TYPES.missingScope],
    [new StravaAppForbiddenError('403'), FAILURE_TYPES.appForbidden],
    [new StravaInvalidResponseError('bad body'), FAILURE_TYPES.badRequest],
    [new StravaNotFoundError('404'), FAILURE_TYPES.notFound],
  ])('%s becomes a non-retryable %s', (error, type) => {
    const failure = toActivityFailure(error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type, nonRetryable: true, message: error.message });
  });

  it('rate limits carry the wait (at least a second) in details', () => {
    expect(toActivityFailure(new StravaRateLimitedError('429', { retryAfterMs: 90_000 }))).toMatchObject({
      type: FAILURE_TYPES.rateLimited,
      details: [{ retryAfterMs: 90_000 }],
    });
    expect(toActivityFailure(new RateBudgetExhaustedError(10, 'background share spent'))).toMatchObject({
      type: FAILURE_TYPES.rateLimited,
      details: [{ retryAfterMs: 1_000 }],
    });
  });

  it("the governor's refusal is a benign failure (no WARN, no failure metric); Strava's own 429 is not", () => {
    const refusal = toActivityFailure(new RateBudgetExhaustedError(10, 'background share spent')) as ApplicationFailure;
    const rateLimited = toActivityFailure(new StravaRateLimitedError('429', { retryAfterMs: 90_000 })) as ApplicationFailure;
    expect(refusal.category).toBe(ApplicationFailureCategory.BENIGN);
    expect(rateLimited.category).toBeUndefined();
  });

  it('leaves Strava 5xx and foreign errors as they are, so Temporal retries them', () => {
    const server = new StravaServerError('502');
    const other = new TypeError('boom');
    expect(toActivityFailure(server)).toBe(server);
    expect(toActivityFailure(other)).toBe(other);
  });

  it('isStravaError tells errors apart by kind, not by name', () => {
    const renamed = Object.assign(new Error('look-alike'), { name: 'StravaNotFoundError' });
    expect(isStravaError(new StravaNotFoundError('404'), 'not_found')).toBe(true);
    expect(isStravaError(renamed, 'not_found')).toBe(false);
    expect(isStravaError(new StravaTokenInvalidError('401'), 'not_found', 'token_invalid')).toBe(true);
  });
});
