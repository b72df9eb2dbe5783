import { condition, defineQuery, setHandler } from '@temporalio/workflow';
import type { StravaEventSignal } from '../../../src/domain/sync-types.js';
import { stravaEventSignal } from '../../../src/workflows/messages.js';

export const receivedEventsQuery = defineQuery<StravaEventSignal[]>('receivedEvents');

/**
 * Stands in for the real athleteSync (same workflow type name) so webhook tests can see exactly which signals
 * reached `athlete-<id>` and how often, without syncing anything from Strava.
 */
export async function athleteSync(_input: { athleteId: number }): Promise<void> {
  const received: StravaEventSignal[] = [];
  setHandler(stravaEventSignal, (event) => {
    received.push(event);
  });
  setHandler(receivedEventsQuery, () => received);
  await condition(() => false);
}
