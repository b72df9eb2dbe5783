import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { FleetSettings } from '../../src/domain/fleet-settings.js';
import type { AthleteStatus, AthleteSyncInput, AthleteSyncOptions } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { appFocusSignal, pauseSignal, resumeSignal, settingsSignal, statusQuery, stravaEventSignal, syncNowUpdate } from '../../src/workflows/messages.js';
import { settingsVersionKey, syncStateKey } from '../../src/workflows/search-attributes.js';
import { settledHistoryLength, uniqueTaskQueue, withWorker } from '../helpers/temporal.js';
import { waitFor as pollUntil } from '../helpers/wait-for.js';
import { createTimeSkippingEnv } from '../helpers/time-skipping.js';
import { FakeActivities, activityEvent } from './fake-activities.js';

/**
 * What an operator changes in a running athlete workflow (time-skipping server, fake activities): the per-athlete
 * pause and resume, and the settings signal (backfill interval, focus staleness, fleet-wide pause).
 */

const HOUR = 3_600_000;
type Handle = WorkflowHandle<typeof athleteSync>;

let env: TestWorkflowEnvironment;
let nextAthlete = 70_000;

beforeEach(async () => {
  env = await createTimeSkippingEnv();
});
afterEach(async () => env?.teardown());

/** Polls the status query (each query with its own deadline, as in athlete-sync.test.ts). */
async function waitFor(handle: Handle, predicate: (s: AthleteStatus) => boolean, timeoutMs = 15_000): Promise<AthleteStatus> {
  const query = () => env.client.withDeadline(Date.now() + 2_000, () => handle.query(statusQuery)).catch(() => undefined);
  return (await pollUntil(query, (s) => s !== undefined && predicate(s), { timeoutMs, what: 'the status condition' }))!;
}

async function scenario(
  fake: FakeActivities,
  options: Partial<AthleteSyncOptions>,
  fn: (handle: Handle, athleteId: number) => Promise<void>,
  input: Partial<AthleteSyncInput> = {},
): Promise<void> {
  const athleteId = nextAthlete++;
  const taskQueue = uniqueTaskQueue('operator-controls');
  const handle = await env.client.workflow.start(athleteSync, {
    workflowId: `athlete-${athleteId}-${taskQueue}`,
    taskQueue,
    args: [{ athleteId, options: { backfillJitter: 0, ...options }, ...input }],
  });
  await withWorker({ connection: env.nativeConnection, taskQueue, activities: fake.activities() }, async () => {
    try {
      await fn(handle, athleteId);
    } finally {
      await handle.terminate('test done').catch(() => {});
    }
  });
}

const importDone = (s: AthleteStatus) => s.import.done && s.state === 'idle';
const historyLength = async (handle: Handle) => (await handle.describe()).historyLength;
const settings = (version: number, changes: Partial<FleetSettings> = {}): FleetSettings => ({
  version,
  backfillIntervalMs: 3 * HOUR,
  focusStaleAfterMs: HOUR,
  paused: false,
  ...changes,
});

describe('operator controls of the athlete workflow (time-skipping, fake activities)', () => {
  it('a pause stops every Strava call while events are kept; resume catches up with one sync and applies them', async () => {
    const fake = new FakeActivities();
    fake.truth.set(5, 1).set(6, 1);
    await scenario(fake, { backfillIntervalMs: 3 * HOUR }, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      await handle.signal(pauseSignal);
      const paused = await waitFor(handle, (s) => s.state === 'paused');
      expect(paused).toMatchObject({ pausedBy: 'operator', operatorPausedAt: expect.any(String) });
      expect((await handle.describe()).typedSearchAttributes.get(syncStateKey)).toBe('paused');
      await pollUntil(() => fake.callsOf('recordAthleteState').at(-1)?.input.state, (state) => state === 'paused', 10_000);
      const stravaBefore = fake.stravaRequests();

      // Two days pass (16 backfills would be due): a paused workflow sets no timer, so its history does not move.
      const lengthPaused = await settledHistoryLength(handle);
      await env.sleep(2 * 24 * HOUR);
      expect(await historyLength(handle)).toBe(lengthPaused);

      await handle.signal(stravaEventSignal, activityEvent(athleteId, 5, 'create', 100));
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 6, 'update', 101, { updatedFields: ['title'] }));
      await handle.signal(appFocusSignal);
      const rejected = await handle.executeUpdate(syncNowUpdate).then(() => undefined, (error: unknown) => error);
      expect(rejected).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((rejected as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'SyncPaused', message: expect.stringContaining(`/athletes/${athleteId}/resume`) });
      const waiting = await waitFor(handle, (s) => s.pendingEvents === 2 && s.counters.focusSignals === 1);
      expect(waiting.state).toBe('paused');
      expect(fake.stravaRequests()).toBe(stravaBefore);

      await handle.signal(resumeSignal);
      const resumed = await waitFor(handle, (s) => s.state === 'idle' && s.pendingEvents === 0 && s.counters.backfills === 1);
      expect(resumed.pausedBy).toBeNull();
      // The events first, then ONE list (the backfill, due at once) that covers the whole pause.
      const after = fake.calls.slice(fake.calls.findIndex((c) => c.name === 'recordAthleteState' && c.input.state === 'paused'));
      const stravaCalls = after.filter((c) => c.name === 'fetchActivity' || c.name === 'syncWindow' || c.name === 'importPage');
      expect(stravaCalls.map((c) => [c.name, c.input.activityId ?? c.input.kind])).toEqual([
        ['fetchActivity', 5],
        ['fetchActivity', 6],
        ['syncWindow', 'backfill'],
      ]);
      expect([...fake.stored.keys()].sort()).toEqual([5, 6]);
      // The next backfill follows the interval again: none before it is due.
      await env.sleep(2 * HOUR);
      expect(fake.callsOf('syncWindow')).toHaveLength(1);
    });
  });

  it('settings reach a running workflow: a new backfill interval re-plans the next backfill; repeated or older versions change nothing', async () => {
    const fake = new FakeActivities();
    await scenario(fake, { backfillIntervalMs: 3 * HOUR, focusStaleAfterMs: HOUR }, async (handle) => {
      const imported = await waitFor(handle, importDone);
      expect(imported.settings).toEqual({ version: 0, backfillIntervalMs: 3 * HOUR, focusStaleAfterMs: HOUR, fleetPaused: false });
      const plannedBefore = Date.parse(imported.nextBackfillAt!);

      await handle.signal(settingsSignal, settings(1, { backfillIntervalMs: 24 * HOUR, focusStaleAfterMs: 2 * HOUR }));
      const applied = await waitFor(handle, (s) => s.settings.version === 1 && s.nextBackfillAt !== null && s.state === 'idle');
      expect(applied.settings).toEqual({ version: 1, backfillIntervalMs: 24 * HOUR, focusStaleAfterMs: 2 * HOUR, fleetPaused: false });
      // Planned again from the moment the change arrived: about 24 h on instead of 3 h.
      expect(Date.parse(applied.nextBackfillAt!) - plannedBefore).toBeGreaterThan(20 * HOUR);
      expect((await handle.describe()).typedSearchAttributes.get(settingsVersionKey)).toBe(1);

      // The same version again (a second API process's pass), and an older one arriving late: ignored.
      await handle.signal(settingsSignal, settings(1, { backfillIntervalMs: HOUR }));
      await handle.signal(settingsSignal, settings(0, { paused: true }));
      await handle.signal(appFocusSignal);
      const unchanged = await waitFor(handle, (s) => s.counters.focusSignals === 1 && s.state === 'idle');
      expect(unchanged.settings).toEqual(applied.settings);
      expect(unchanged.nextBackfillAt).toBe(applied.nextBackfillAt);

      await env.sleep(25 * HOUR);
      const status = await waitFor(handle, (s) => s.counters.backfills === 1 && s.state === 'idle');
      expect(fake.callsOf('syncWindow').filter((c) => c.input.kind === 'backfill')).toHaveLength(1);
      // Focus staleness follows the settings too: a focus about 1.5 h after the backfill (due at 24 h, now 25 h
      // + 0.5 h) finds the data fresh under the new 2 h (the old 1 h would sync).
      await env.sleep(0.5 * HOUR);
      await handle.signal(appFocusSignal);
      const fresh = await waitFor(handle, (s) => s.counters.focusSignals === 2 && s.state === 'idle');
      expect(fresh.counters.focusSyncs).toBe(status.counters.focusSyncs);
    });
  });

  it("the fleet pause (settings) holds every Strava call; an operator's pause outlives it; the last resume catches up once", async () => {
    const fake = new FakeActivities();
    fake.truth.set(8, 1);
    await scenario(fake, { backfillIntervalMs: 3 * HOUR }, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      await handle.signal(settingsSignal, settings(2, { paused: true }));
      expect(await waitFor(handle, (s) => s.state === 'paused')).toMatchObject({ pausedBy: 'fleet', settings: { version: 2, fleetPaused: true } });
      await handle.signal(pauseSignal);
      await waitFor(handle, (s) => s.pausedBy === 'operator');
      const stravaBefore = fake.stravaRequests();
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 8, 'create', 100));
      await env.sleep(6 * HOUR);

      await handle.signal(settingsSignal, settings(3, { paused: false }));
      const stillPaused = await waitFor(handle, (s) => s.settings.version === 3 && s.pendingEvents === 1);
      expect(stillPaused).toMatchObject({ state: 'paused', pausedBy: 'operator' });
      expect(fake.stravaRequests()).toBe(stravaBefore);

      await handle.signal(resumeSignal);
      await waitFor(handle, (s) => s.state === 'idle' && s.pendingEvents === 0 && s.counters.backfills === 1);
      expect(fake.stravaRequests() - stravaBefore).toBe(2); // the event's fetch and one list
      expect(fake.stored.get(8)).toBe(1);
    });
  });

  it('a workflow that starts while the fleet is paused imports nothing until the pause is lifted, then imports', async () => {
    const fake = new FakeActivities();
    fake.history = Array.from({ length: 5 }, (_, i) => 1_700_000_000 - i * 86_400);
    await scenario(
      fake,
      {},
      async (handle) => {
        const paused = await waitFor(handle, (s) => s.state === 'paused');
        expect(paused).toMatchObject({ pausedBy: 'fleet', settings: { version: 4, fleetPaused: true }, import: { done: false, pages: 0 } });
        expect((await handle.describe()).typedSearchAttributes.get(syncStateKey)).toBe('paused');
        await env.sleep(HOUR);
        expect(fake.stravaRequests()).toBe(0);
        // Started without the SettingsVersion attribute (these start options set none): a pass would find it and
        // send the same version; the workflow then shows the version it has, so the next pass leaves it alone.
        expect((await handle.describe()).typedSearchAttributes.get(settingsVersionKey)).toBeUndefined();
        await handle.signal(settingsSignal, settings(4, { paused: true }));
        await pollUntil(async () => (await handle.describe()).typedSearchAttributes.get(settingsVersionKey), (v) => v === 4, 10_000);
        expect(await waitFor(handle, (s) => s.state === 'paused')).toMatchObject({ settings: { version: 4, fleetPaused: true } });

        await handle.signal(settingsSignal, settings(5));
        const imported = await waitFor(handle, importDone);
        expect(imported.import.imported).toBe(5);
        // The import covers everything: no extra catch-up list on top of it.
        expect(fake.callsOf('syncWindow')).toHaveLength(0);
      },
      { fleet: { version: 4, paused: true } },
    );
  });
});
