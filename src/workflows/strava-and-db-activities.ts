import { proxyActivities } from '@temporalio/workflow';
import type { AthleteActivities } from '../domain/activity-contract.js';
import { HANDLED_FAILURE_TYPES } from '../domain/failure-types.js';

/**
 * The two ways the athlete workflow reaches its activities. Every `strava.*` call goes through
 * AthleteSyncRun.callStrava (src/workflows/athlete-sync-run.ts); `db.*` calls are awaited directly.
 */

// Strava calls: transient errors retry a few times; rate limits, revoked tokens and a forbidden app come back to
// the workflow at once so it can show the state (rate_limited, needs_reauth, paused) and wait durably.
// They heartbeat while running (src/activities/index.ts): a worker that dies mid-call is noticed after the
// heartbeat timeout and the call retried on another worker, instead of only after startToCloseTimeout.
export const strava = proxyActivities<AthleteActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 6, nonRetryableErrorTypes: HANDLED_FAILURE_TYPES },
});

// Database-only activities: PostgreSQL outages heal, so they retry until they succeed.
export const db = proxyActivities<AthleteActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});
