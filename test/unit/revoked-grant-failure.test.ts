import { describe, expect, it } from 'vitest';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { toActivityFailure } from '../../src/activities/failures.js';
import { FAILURE_TYPES } from '../../src/domain/failure-types.js';
import { NeedsReauthError, StravaMissingScopeError, StravaTokenInvalidError } from '../../src/strava/errors.js';
import { failureOutcome } from '../../src/workflows/failure-outcome.js';

/** Which NeedsReauth failures say the athlete's grant is gone (Strava refused the tokens themselves). */

const inWorkflow = (error: unknown) =>
  failureOutcome(new ActivityFailure('activity failed', 'fetchActivity', '1', RetryState.NON_RETRYABLE_FAILURE, undefined, toActivityFailure(error) as ApplicationFailure));

describe('a revoked grant', () => {
  it('is what a rejected refresh token or a 401 on an access token means', () => {
    expect(inWorkflow(new NeedsReauthError(1, 'refresh_token_invalid'))).toMatchObject({ kind: 'needs_reauth', type: FAILURE_TYPES.needsReauth, grantRevoked: true });
    expect(inWorkflow(new StravaTokenInvalidError('Strava GET /athlete answered 401'))).toMatchObject({ kind: 'needs_reauth', grantRevoked: true });
  });

  it('is not what missing tokens or a missing scope mean', () => {
    expect(inWorkflow(new NeedsReauthError(1, 'no_tokens'))).toMatchObject({ kind: 'needs_reauth', grantRevoked: false });
    expect(inWorkflow(new StravaMissingScopeError('Strava answered 401 (activity:read_permission missing)'))).toMatchObject({ kind: 'needs_reauth', grantRevoked: false });
    // A NeedsReauth without details (runs and fakes from before the flag) is not a revocation either.
    const bare = ApplicationFailure.create({ type: FAILURE_TYPES.needsReauth, message: 'x', nonRetryable: true });
    expect(failureOutcome(new ActivityFailure('f', 'fetchActivity', '1', RetryState.NON_RETRYABLE_FAILURE, undefined, bare))).toMatchObject({ grantRevoked: false });
  });
});
