import { describe, expect, it } from 'vitest';
import { ActivityFailure, ApplicationFailure, CancelledFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { failureOutcome } from '../../src/workflows/failure-outcome.js';
import { FAILURE_TYPES } from '../../src/domain/failure-types.js';

/** How the athlete workflow reads a failed Strava activity (by failure type, never by message). */

const failed = (type: string, details?: unknown[]) =>
  new ActivityFailure('activity failed', 'fetchActivity', '1', RetryState.NON_RETRYABLE_FAILURE, undefined, ApplicationFailure.create({ type, message: `strava said ${type}`, details }));

describe('failureOutcome', () => {
  it('reads each handled failure type as what the workflow must do', () => {
    expect(failureOutcome(failed(FAILURE_TYPES.rateLimited, [{ retryAfterMs: 90_000 }]))).toEqual({
      kind: 'rate_limited',
      type: 'RateLimited',
      message: 'strava said RateLimited',
      retryAfterMs: 90_000,
    });
    expect(failureOutcome(failed(FAILURE_TYPES.needsReauth)).kind).toBe('needs_reauth');
    expect(failureOutcome(failed(FAILURE_TYPES.missingScope)).kind).toBe('needs_reauth');
    expect(failureOutcome(failed(FAILURE_TYPES.appForbidden)).kind).toBe('app_forbidden');
    expect(failureOutcome(failed(FAILURE_TYPES.badRequest))).toMatchObject({ kind: 'failed', type: 'StravaBadRequest' });
  });

  it('waits at least a second for a rate limit, and a minute when none was named', () => {
    expect(failureOutcome(failed(FAILURE_TYPES.rateLimited, [{ retryAfterMs: 10 }]))).toMatchObject({ retryAfterMs: 1_000 });
    expect(failureOutcome(failed(FAILURE_TYPES.rateLimited))).toMatchObject({ retryAfterMs: 60_000 });
  });

  it("reads a local activity's unwrapped failure the same way: the ApplicationFailure itself, or a timeout", () => {
    const unwrapped = ApplicationFailure.create({ type: FAILURE_TYPES.needsReauth, message: 'token refused', details: [{ grantRevoked: true }] });
    expect(failureOutcome(unwrapped)).toEqual({ kind: 'needs_reauth', type: 'NeedsReauth', message: 'token refused', grantRevoked: true });
    const timeout = new TimeoutFailure('local activity timed out', undefined, TimeoutType.START_TO_CLOSE);
    expect(failureOutcome(timeout)).toMatchObject({ kind: 'failed', type: 'TimeoutFailure' });
  });

  it('rethrows anything that is not an activity failure (a workflow bug must fail the task, not be swallowed), and a cancellation', () => {
    const bug = new TypeError('not an activity failure');
    expect(() => failureOutcome(bug)).toThrow(bug);
    const cancelled = new CancelledFailure('workflow cancelled');
    expect(() => failureOutcome(cancelled)).toThrow(cancelled);
  });
});
