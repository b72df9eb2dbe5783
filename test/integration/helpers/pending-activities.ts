import { waitFor } from '../../helpers/wait-for.js';
import type { Handle } from '../workflow-harness.js';

const PENDING_ACTIVITY_STATE_STARTED = 2; // temporal.api.enums.v1.PendingActivityState

/** Waits until the server shows an import page started by a worker (in flight: not between pages, not in a retry back-off). */
export async function importPageRunning(handle: Handle, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => (await handle.describe()).raw.pendingActivities ?? [],
    (pending) => pending.some((a) => a.activityType?.name === 'importPage' && a.state === PENDING_ACTIVITY_STATE_STARTED),
    { timeoutMs, intervalMs: 20, what: 'an import page in flight' },
  );
}
