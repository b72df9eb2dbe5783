import type { Client } from '@temporalio/client';
import type { StravaEventSignal } from '../../domain/sync-types.js';
import { signalAthlete } from '../../temporal/athlete-workflow.js';
import { athleteWorkflowId, stravaEventSignal } from '../../workflows/messages.js';

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
  config: Parameters<typeof signalAthlete>[1],
  options: ForwarderOptions,
): EventForwarder {
  const within = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + options.timeoutMs, fn);
  return {
    async deliver(signal) {
      await within(() => signalAthlete(client, config, signal.ownerId, stravaEventSignal, signal));
    },
    async deliverToRunning(signal) {
      await within(() => client.workflow.getHandle(athleteWorkflowId(signal.ownerId)).signal(stravaEventSignal, signal));
    },
  };
}
