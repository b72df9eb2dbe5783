import type { Client } from '@temporalio/client';
import type { Config } from '../../config.js';
import type { StravaEventSignal } from '../../domain/sync-types.js';
import { athleteWorkflowId, stravaEventSignal } from '../../workflows/messages.js';
import { stravaAthleteIdKey } from '../../workflows/search-attributes.js';

/** How an event reaches its athlete workflow. Both calls reject when Temporal does not accept the signal in time. */
export interface EventForwarder {
  /** signalWithStart on `athlete-<owner>` (conflict policy USE_EXISTING): the normal path, from the inbox. */
  deliver(signal: StravaEventSignal): Promise<void>;
  /**
   * Signals only a workflow that is already running. Used when PostgreSQL is down: without the athletes table
   * the receiver cannot tell a connected athlete from a stranger, and must not start workflows for strangers.
   */
  deliverToRunning(signal: StravaEventSignal): Promise<void>;
}

export interface ForwarderOptions {
  /** Deadline for one signal RPC; the SDK otherwise retries an unreachable server for a long time. */
  timeoutMs: number;
}

export function createEventForwarder(
  client: Client,
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE'>,
  options: ForwarderOptions,
): EventForwarder {
  const within = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + options.timeoutMs, fn);
  return {
    async deliver(signal) {
      await within(() =>
        client.workflow.signalWithStart('athleteSync', {
          workflowId: athleteWorkflowId(signal.ownerId),
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          args: [{ athleteId: signal.ownerId }],
          typedSearchAttributes: [{ key: stravaAthleteIdKey, value: String(signal.ownerId) }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          signal: stravaEventSignal,
          signalArgs: [signal],
        }),
      );
    },
    async deliverToRunning(signal) {
      await within(() => client.workflow.getHandle(athleteWorkflowId(signal.ownerId)).signal(stravaEventSignal, signal));
    },
  };
}
