import type { WorkflowStartOptions } from '@temporalio/client';
import type { Config } from '../config.js';
import type { AthleteSyncOptions } from '../workflows/athlete-state.js';
import type { athleteSync } from '../workflows/athlete-sync.js';
import { stravaAthleteIdKey, syncStateKey } from '../workflows/search-attributes.js';

/** The workflow id of an athlete's one workflow. */
export const athleteWorkflowId = (athleteId: number): string => `athlete-${athleteId}`;

/** The settings the athlete gateway reads from the environment. */
export type AthleteGatewayConfig = Pick<
  Config,
  'TEMPORAL_TASK_QUEUE' | 'BACKFILL_INTERVAL' | 'BACKFILL_OVERLAP' | 'FOCUS_STALE_AFTER' | 'CONTINUE_AS_NEW_AFTER_EVENTS'
>;

/** The workflow options that come from the environment; the rest keep the workflow's defaults. */
function athleteSyncOptions(config: AthleteGatewayConfig): Partial<AthleteSyncOptions> {
  return {
    backfillIntervalMs: config.BACKFILL_INTERVAL,
    backfillOverlapMs: config.BACKFILL_OVERLAP,
    focusStaleAfterMs: config.FOCUS_STALE_AFTER,
    continueAsNewAfterEvents: config.CONTINUE_AS_NEW_AFTER_EVENTS,
  };
}

/**
 * Start options of `athlete-<id>`: one workflow per athlete, so every start is USE_EXISTING (a running
 * workflow is messaged, never duplicated; a closed one, e.g. after a revocation, is started afresh).
 */
export function athleteStartOptions(config: AthleteGatewayConfig, athleteId: number, overrides: Partial<AthleteSyncOptions> = {}) {
  return {
    workflowId: athleteWorkflowId(athleteId),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [{ athleteId, options: { ...athleteSyncOptions(config), ...overrides } }] as [Parameters<typeof athleteSync>[0]],
    typedSearchAttributes: [
      { key: stravaAthleteIdKey, value: String(athleteId) },
      { key: syncStateKey, value: 'importing' },
    ],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
  } satisfies WorkflowStartOptions<typeof athleteSync>;
}
