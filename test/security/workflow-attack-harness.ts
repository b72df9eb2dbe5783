import type { Sql } from '../../src/db/connection.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import type { StravaEventSignal } from '../../src/domain/sync-types.js';
import type { AthleteSyncOptions } from '../../src/workflows/athlete-state.js';
import { stravaEventSignal } from '../../src/workflows/messages.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait-for.js';
import { storedActivities, truthActivities, type Row } from '../integration/helpers/ground-truth.js';
import { createHarness, waitForStatus, type Handle, type Harness } from '../integration/workflow-harness.js';

/**
 * The stack the workflow security regressions attack: real PostgreSQL, the dev server, the emulator over HTTP
 * and a worker with the real activities. The attacker's event reaches the running workflow as the `stravaEvent`
 * signal, exactly what the webhook receiver would forward for a well-formed POST.
 */

export interface AttackStack {
  emulator: RunningEmulator;
  harness: Harness;
  /** Connects an athlete with `activities` activities and waits for the import. */
  victim(activities: number, sync?: Partial<AthleteSyncOptions>): Promise<{ athleteId: number; handle: Handle }>;
  stored(athleteId: number): Promise<Row[]>;
  truth(athleteId: number): Promise<Row[]>;
  /** Emulator requests served for an endpoint ("GET /api/v3/activities/{id}"), any status. */
  requests(endpoint: string): Promise<number>;
  close(): Promise<void>;
}

export async function startAttackStack(db: { sql: Sql; url: string }, seed: number): Promise<AttackStack> {
  const emulator = await startEmulator({ seed });
  const dev: DevServerHandles = await connectDevServer();
  const harness = await createHarness(db.sql, db.url, emulator, dev);
  await harness.startWorker();
  return {
    emulator,
    harness,
    async victim(activities, sync = {}) {
      const victim = await harness.connectAthlete(activities, { sync });
      await waitForStatus(victim.handle, (s) => s.import.done && s.state === 'idle', 30_000);
      return victim;
    },
    stored: (athleteId) => storedActivities(db.sql, athleteId),
    truth: (athleteId) => truthActivities(emulator, athleteId),
    async requests(endpoint) {
      const counters = await emulator.control.counters();
      return Object.values(counters.requests[endpoint] ?? {}).reduce((a, b) => a + b, 0);
    },
    async close() {
      await harness.close();
      await dev.close();
      await emulator.close();
    },
  };
}

/** An activity event as an attacker (or Strava) would have it delivered. */
export function activityEvent(athleteId: number, activityId: number, aspectType: StravaEventSignal['aspectType'], eventTime: number): StravaEventSignal {
  return { objectType: 'activity', objectId: activityId, aspectType, ownerId: athleteId, eventTime, updatedFields: aspectType === 'update' ? ['title'] : [] };
}

export const signalEvent = (handle: Handle, event: StravaEventSignal) => handle.signal(stravaEventSignal, event);

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Polls until fn returns true (or fails with the message). */
export async function eventually(fn: () => Promise<boolean>, message: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(fn, (reached) => reached, { timeoutMs, intervalMs: 200, what: message });
}
