import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { Config } from '../config.js';
import type { AthleteSyncOptions } from '../workflows/athlete-state.js';
import type { athleteSync } from '../workflows/athlete-sync.js';
import { athleteWorkflowId } from '../workflows/messages.js';
import { stravaAthleteIdKey, syncStateKey } from '../workflows/search-attributes.js';

type SyncConfig = Pick<
  Config,
  'TEMPORAL_TASK_QUEUE' | 'BACKFILL_INTERVAL' | 'BACKFILL_OVERLAP' | 'FOCUS_STALE_AFTER' | 'CONTINUE_AS_NEW_AFTER_EVENTS'
>;

/** The workflow options that come from the environment; the rest keep the workflow's defaults. */
function athleteSyncOptions(config: SyncConfig): Partial<AthleteSyncOptions> {
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
export function athleteStartOptions(config: SyncConfig, athleteId: number, overrides: Partial<AthleteSyncOptions> = {}) {
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

/** Signals the athlete's workflow, starting it first if it is not running (signalWithStart). */
export async function signalAthlete<Args extends unknown[]>(
  client: Client,
  config: SyncConfig,
  athleteId: number,
  signal: SignalDefinition<Args>,
  ...args: Args
): Promise<void> {
  await client.workflow.signalWithStart<typeof athleteSync, Args>('athleteSync', {
    ...athleteStartOptions(config, athleteId),
    signal,
    signalArgs: args,
    // The SDK's conditional option types cannot be resolved for a generic Args; the signature above is the check.
  } as never);
}
