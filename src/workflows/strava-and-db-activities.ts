import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
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
const STRAVA_RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 6, nonRetryableErrorTypes: HANDLED_FAILURE_TYPES };

export const strava = proxyActivities<AthleteActivities>({ startToCloseTimeout: '2m', heartbeatTimeout: '15s', retry: STRAVA_RETRY });

// The fetch a webhook event triggers (one short request): a local activity runs inside the workflow task that
// received the signal, which spares the server an activity task and a second workflow task per event. A worker
// that dies mid-call is noticed when that workflow task times out (10 s), and the fetch runs again elsewhere.
export const stravaLocal = proxyLocalActivities<AthleteActivities>({ startToCloseTimeout: '2m', retry: STRAVA_RETRY });

// Database-only activities: PostgreSQL outages heal, so they retry until they succeed.
export const db = proxyActivities<AthleteActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});
