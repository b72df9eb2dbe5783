import type { Handle } from '../workflow-harness.js';

const PENDING_ACTIVITY_STATE_STARTED = 2; // temporal.api.enums.v1.PendingActivityState

/** Waits until the server shows an import page started by a worker (in flight: not between pages, not in a retry back-off). */
export async function importPageRunning(handle: Handle, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { raw } = await handle.describe();
    const started = (raw.pendingActivities ?? []).some(
      (a) => a.activityType?.name === 'importPage' && a.state === PENDING_ACTIVITY_STATE_STARTED,
    );
    if (started) return;
    if (Date.now() > deadline) throw new Error('no import page in flight');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
