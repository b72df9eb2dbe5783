import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { AthleteStatus, AthleteSyncOptions } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import {
  appFocusSignal,
  disconnectSignal,
  reconnectedSignal,
  statusQuery,
  stravaEventSignal,
  syncNowUpdate,
} from '../../src/workflows/messages.js';
import { syncStateKey } from '../../src/workflows/search-attributes.js';
import { backgroundTaskQueue } from '../../src/domain/task-queues.js';
import { settledHistoryLength, uniqueTaskQueue, withWorker } from '../helpers/temporal.js';
import { waitFor as pollUntil } from '../helpers/wait-for.js';
import { createTimeSkippingEnv } from '../helpers/time-skipping.js';
import { FakeActivities, activityEvent, deauthEvent } from './fake-activities.js';

/**
 * The athlete workflow on the time-skipping server with fake activities (createActivities-shaped objects):
 * timers of hours and days pass in milliseconds, and every Strava outcome is scripted.
 */

const HOUR = 3_600_000;
type Handle = WorkflowHandle<typeof athleteSync>;

let env: TestWorkflowEnvironment;
let nextAthlete = 50_000;

// A fresh server per test: skipped time and leftover timers of one scenario cannot leak into the next.
beforeEach(async () => {
  env = await createTimeSkippingEnv();
});
afterEach(async () => env?.teardown());

/**
 * Polls the status query. Each query gets its own 2 s deadline and is simply asked again: the time-skipping test
 * server can leave a query unanswered for good when it lands while the workflow continues as new, even though
 * the workflow itself carries on.
 */
async function waitFor(handle: Handle, predicate: (s: AthleteStatus) => boolean, timeoutMs = 15_000): Promise<AthleteStatus> {
  const deadline = Date.now() + timeoutMs;
  const query = () => env.client.withDeadline(Date.now() + 2_000, () => handle.query(statusQuery)).catch(() => undefined);
  let status = await query();
  while (!status || !predicate(status)) {
    if (Date.now() > deadline) throw new Error(`condition not reached; last status: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = await query();
  }
  return status;
}


/** Starts an athlete workflow (optionally signalling it before any worker runs) and runs fn with a worker. */
async function scenario<T>(
  fake: FakeActivities,
  options: Partial<AthleteSyncOptions>,
  fn: (handle: Handle, athleteId: number) => Promise<T>,
  before?: (handle: Handle, athleteId: number) => Promise<void>,
): Promise<T> {
  const athleteId = nextAthlete++;
  const taskQueue = uniqueTaskQueue('athlete-sync');
  const handle = await env.client.workflow.start(athleteSync, {
    workflowId: `athlete-${athleteId}-${taskQueue}`,
    taskQueue,
    args: [{ athleteId, options: { backfillJitter: 0, ...options } }],
  });
  await before?.(handle, athleteId);
  return withWorker({ connection: env.nativeConnection, taskQueue, activities: fake.activities() }, async () => {
    try {
      return await fn(handle, athleteId);
    } finally {
      await handle.terminate('test done').catch(() => {});
    }
  });
}

const importDone = (s: AthleteStatus) => s.import.done && s.state === 'idle';

describe('athleteSync (time-skipping, fake activities)', () => {
  it('runs the background backfill on its durable timer over several simulated days', async () => {
    const fake = new FakeActivities();
    await scenario(fake, { backfillIntervalMs: 3 * HOUR }, async (handle) => {
      await waitFor(handle, importDone);
      await env.sleep(3 * 24 * HOUR + 60_000);
      const backfills = fake.callsOf('syncWindow').filter((c) => c.input.kind === 'backfill');
      expect(backfills.length).toBe(24);
      expect(backfills.every((c) => c.input.priority === 'background')).toBe(true);
      // Each backfill lists from the previous one minus the overlap: the window moves forward.
      const afters = backfills.map((c) => c.input.after as number);
      expect(afters).toEqual([...afters].sort((a, b) => a - b));
      const status = await handle.query(statusQuery);
      expect(status.counters.backfills).toBe(24);
    });
  });

  it('syncs on app focus only when the last sync is stale, coalescing repeated focus', async () => {
    const fake = new FakeActivities();
    await scenario(fake, { focusStaleAfterMs: HOUR, backfillIntervalMs: 24 * HOUR }, async (handle) => {
      await waitFor(handle, importDone);
      await handle.signal(appFocusSignal);
      // The loop decides in the activation that delivered the signal: resting idle means it chose not to sync.
      const fresh = await waitFor(handle, (s) => s.counters.focusSignals === 1 && s.state === 'idle');
      expect(fresh.counters.focusSyncs).toBe(0);
      expect(fake.callsOf('syncWindow')).toHaveLength(0);

      await env.sleep(2 * HOUR);
      await handle.signal(appFocusSignal);
      await handle.signal(appFocusSignal);
      await handle.signal(appFocusSignal);
      const status = await waitFor(handle, (s) => s.counters.focusSignals === 4 && s.state === 'idle');
      const quick = fake.callsOf('syncWindow');
      expect(quick).toHaveLength(1);
      expect(quick[0]!.input).toMatchObject({ kind: 'quick', priority: 'interactive' });
      expect((await handle.query(statusQuery)).counters.focusSyncs).toBe(1);
      expect(status.lastSyncAt).not.toBeNull();
    });
  });

  it('sync now returns what it did; it is rejected in needs_reauth, which stops Strava calls until reconnected', async () => {
    const fake = new FakeActivities();
    fake.windowResult = { listed: 9, added: 2, updated: 3, deleted: 1, repaired: 0, requests: 2 };
    await scenario(fake, {}, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      const result = await handle.executeUpdate(syncNowUpdate);
      expect(result).toMatchObject({ added: 2, updated: 3, deleted: 1, requests: 2 });
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
      expect(fake.callsOf('syncWindow')[0]!.input).toMatchObject({ kind: 'quick', priority: 'realtime' });

      // The token turns out to be revoked while fetching an event's activity.
      fake.truth.set(5, 1).set(6, 1);
      fake.behaviours = ['NeedsReauth'];
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 5, 'create', 100));
      await waitFor(handle, (s) => s.state === 'needs_reauth');
      const rejected = await handle.executeUpdate(syncNowUpdate).then(() => undefined, (error: unknown) => error);
      expect(rejected).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((rejected as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'SyncNowRejected' });

      const before = await handle.query(statusQuery);
      const callsBefore = fake.calls.filter((c) => c.name !== 'recordAthleteState').length;
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 6, 'create', 101));
      await handle.signal(appFocusSignal);
      await env.sleep(6 * HOUR); // even a due backfill makes no call
      // Both messages handled (the workflow's own counters), still waiting for a reconnect, and no request made.
      const after = await waitFor(handle, (s) => s.pendingEvents === 2 && s.counters.focusSignals === before.counters.focusSignals + 1);
      expect(after.state).toBe('needs_reauth');
      expect(after.counters.requests).toBe(before.counters.requests);
      expect(fake.calls.filter((c) => c.name !== 'recordAthleteState')).toHaveLength(callsBefore);

      await handle.signal(reconnectedSignal);
      const status = await waitFor(handle, (s) => s.state === 'idle' && s.pendingEvents === 0 && s.counters.quickSyncs >= 2);
      expect([...fake.stored.keys()].sort()).toEqual([5, 6]);
      expect(status.counters.eventsHandled).toBe(2);
      // The status shows `idle` as soon as the loop sets it; the recordAthleteState activity writing it may still run.
      const states = await pollUntil(() => fake.callsOf('recordAthleteState').map((c) => c.input.state), (recorded) => recorded.at(-1) === 'idle', 10_000);
      expect(states).toContain('needs_reauth');
    });
  });

  it('converges duplicate and out-of-order events, and a delete is never undone by an older create/update', async () => {
    const fake = new FakeActivities();
    fake.truth.set(10, 2);
    await scenario(
      fake,
      {},
      async (handle, athleteId) => {
        let status = await waitFor(handle, (s) => importDone(s) && s.counters.eventsHandled === 7);
        expect(status.counters.duplicateEvents).toBe(1);
        // Activity 10: one fetch for three events; 11 and 12: the newest event is the delete, confirmed by one
        // fetch each (Strava answers 404) before the removal.
        expect(fake.callsOf('fetchActivity').map((c) => c.input.activityId)).toEqual([10, 11, 12]);
        expect(fake.callsOf('removeActivity').map((c) => c.input.activityId).sort()).toEqual([11, 12]);
        expect([...fake.stored.entries()]).toEqual([[10, 2]]);

        // A late create older than the recorded delete is ignored ...
        await handle.signal(stravaEventSignal, activityEvent(athleteId, 11, 'create', 6));
        status = await waitFor(handle, (s) => s.counters.eventsHandled === 8);
        expect(status.counters.staleEvents).toBeGreaterThanOrEqual(1);
        expect(fake.callsOf('fetchActivity')).toHaveLength(3);
        // ... while a newer create (the activity made visible again) fetches it back.
        fake.truth.set(11, 3);
        await handle.signal(stravaEventSignal, activityEvent(athleteId, 11, 'create', 20));
        await waitFor(handle, (s) => s.counters.eventsHandled === 9);
        expect(fake.stored.get(11)).toBe(3);
      },
      async (handle, athleteId) => {
        // Signalled before any worker runs: the first workflow task sees them as one batch.
        for (const event of [
          activityEvent(athleteId, 10, 'update', 3, { updatedFields: ['title'] }),
          activityEvent(athleteId, 10, 'create', 1),
          activityEvent(athleteId, 10, 'update', 3, { updatedFields: ['title'] }),
          activityEvent(athleteId, 11, 'create', 5),
          activityEvent(athleteId, 11, 'delete', 7),
          activityEvent(athleteId, 11, 'update', 6, { updatedFields: ['private'], private: true }),
          activityEvent(athleteId, 12, 'delete', 9),
          activityEvent(athleteId, 12, 'create', 8),
        ]) {
          await handle.signal(stravaEventSignal, event);
        }
      },
    );
  });

  it("an event's fetch is a local activity and the rest's timer is kept (no activity task, no timer churn)", async () => {
    const fake = new FakeActivities();
    fake.truth.set(20, 1).set(21, 1);
    await scenario(fake, {}, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      const resting = await settledHistoryLength(handle);
      for (const [i, id] of [20, 21].entries()) {
        await handle.signal(stravaEventSignal, activityEvent(athleteId, id, 'create', i + 1));
        await waitFor(handle, (s) => s.counters.eventsHandled === i + 1 && s.state === 'idle');
      }
      expect(fake.callsOf('fetchActivity').map((c) => c.input.activityId)).toEqual([20, 21]);
      const events = (await handle.fetchHistory()).events ?? [];
      const scheduled = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
      expect(scheduled).not.toContain('fetchActivity');
      expect(scheduled).toContain('importPage');
      const sinceRest = events.slice(resting);
      expect(sinceRest.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(2);
      // The backfill's instant did not move: its timer runs on, neither cancelled nor started again.
      expect(sinceRest.filter((e) => e.timerCanceledEventAttributes || e.timerStartedEventAttributes)).toEqual([]);
    });
  });

  it('schedules import pages after the first and background backfills on the background task queue, focus syncs on its own', async () => {
    const fake = new FakeActivities();
    fake.history = Array.from({ length: 10 }, (_, i) => 1_700_000_000 - i * 100);
    await scenario(fake, { backfillIntervalMs: 3 * HOUR, focusStaleAfterMs: HOUR, importPageSize: 4 }, async (handle) => {
      await waitFor(handle, importDone);
      await env.sleep(3 * HOUR + 60_000);
      await waitFor(handle, (s) => s.counters.backfills === 1 && s.state === 'idle');
      // Stale again (the backfill synced), the next backfill still hours away: the focus lists.
      await env.sleep(2 * HOUR);
      await handle.signal(appFocusSignal);
      await waitFor(handle, (s) => s.counters.backfills >= 1 && s.counters.focusSyncs === 1 && s.state === 'idle');
      const { taskQueue } = await handle.describe();
      const { events } = await handle.fetchHistory();
      const queues = (events ?? []).flatMap((e) => {
        const scheduled = e.activityTaskScheduledEventAttributes;
        return scheduled ? [`${scheduled.activityType?.name} ${scheduled.taskQueue?.name === taskQueue ? 'main' : scheduled.taskQueue?.name === backgroundTaskQueue(taskQueue) ? 'background' : scheduled.taskQueue?.name}`] : [];
      });
      const pages = queues.filter((q) => q.startsWith('importPage'));
      expect(pages.length).toBeGreaterThanOrEqual(3);
      expect(pages).toEqual(['importPage main', ...pages.slice(1).map(() => 'importPage background')]);
      expect(queues.filter((q) => q.startsWith('syncWindow'))).toEqual(['syncWindow background', 'syncWindow main']);
      expect(fake.callsOf('syncWindow').map((c) => c.input.priority)).toEqual(['background', 'interactive']);
    });
  });

  it("applies an importing athlete's events while its import page waits, not after it", async () => {
    const fake = new FakeActivities();
    fake.history = Array.from({ length: 10 }, (_, i) => 1_700_000_000 - i * 100);
    let release!: () => void;
    fake.importGates.set(2, new Promise<void>((resolve) => (release = resolve)));
    fake.truth.set(40, 1);
    await scenario(fake, { importPageSize: 4 }, async (handle, athleteId) => {
      try {
        await pollUntil(() => fake.callsOf('importPage').length, (n) => n === 2, 10_000);
        await handle.signal(stravaEventSignal, activityEvent(athleteId, 40, 'create', 1));
        const applied = await waitFor(handle, (s) => s.counters.eventsHandled === 1);
        // Page 2 is still waiting: the event did not wait for it.
        expect(applied.import).toMatchObject({ done: false, pages: 1 });
        expect(fake.stored.get(40)).toBe(1);
      } finally {
        release();
      }
      await waitFor(handle, importDone);
    });
  });

  it('retries a 404 after create with growing delays, then gives up; a late success stops the retries', async () => {
    const fake = new FakeActivities();
    await scenario(fake, { notFoundRetryDelaysMs: [10_000, 60_000] }, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 20, 'create', 100));
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 21, 'create', 100));
      await waitFor(handle, (s) => s.pendingNotFoundRetries === 2);
      const fetches = (id: number) => fake.callsOf('fetchActivity').filter((c) => c.input.activityId === id).length;
      expect(fetches(20)).toBe(1);

      fake.truth.set(21, 1); // Strava finished processing 21
      await env.sleep(15_000);
      await waitFor(handle, (s) => s.pendingNotFoundRetries === 1);
      expect(fetches(20)).toBe(2);
      expect(fake.stored.get(21)).toBe(1);

      await env.sleep(70_000);
      const status = await waitFor(handle, (s) => s.pendingNotFoundRetries === 0);
      expect(fetches(20)).toBe(3);
      expect(fetches(21)).toBe(2);
      expect(status.counters.notFoundGaveUp).toBe(1);
      expect(fake.callsOf('removeActivity').map((c) => c.input.activityId)).toEqual([20]);
    });
  });

  it('verifies a deauthorization, then purges and ends', async () => {
    const fake = new FakeActivities();
    fake.authorized = false;
    await scenario(fake, {}, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      await handle.signal(stravaEventSignal, deauthEvent(athleteId, 500));
      await handle.result();
      expect(fake.callsOf('verifyAuthorization')).toHaveLength(1);
      expect(fake.callsOf('purgeAthlete')).toHaveLength(1);
      expect(fake.callsOf('deauthorizeAthlete')).toHaveLength(0);
      const description = await handle.describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.typedSearchAttributes.get(syncStateKey)).toBe('revoked');
      // purgeAthlete writes athletes.state = 'revoked' in its own transaction: the workflow does not write it again.
      const persisted = fake.callsOf('recordAthleteState').map((call) => call.input.state);
      expect(persisted).toContain('idle');
      expect(persisted).not.toContain('revoked');
    });
  });

  it('ignores a stale deauthorization event while the athlete is still authorized', async () => {
    const fake = new FakeActivities();
    fake.authorized = true;
    await scenario(fake, {}, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      await handle.signal(stravaEventSignal, deauthEvent(athleteId, 500));
      const status = await waitFor(handle, (s) => s.counters.staleDeauthorizations === 1);
      expect(status.state).toBe('idle');
      expect(fake.callsOf('purgeAthlete')).toHaveLength(0);
      expect((await handle.describe()).status.name).toBe('RUNNING');
    });
  });

  it('disconnect deauthorizes at Strava, purges and ends', async () => {
    const fake = new FakeActivities();
    await scenario(fake, {}, async (handle) => {
      await waitFor(handle, importDone);
      await handle.signal(disconnectSignal);
      await handle.result();
      expect(fake.calls.map((c) => c.name).filter((n) => n === 'deauthorizeAthlete' || n === 'purgeAthlete')).toEqual([
        'deauthorizeAthlete',
        'purgeAthlete',
      ]);
    });
  });

  it('continues as new (lowered threshold) keeping pending events and the import cursor', async () => {
    const fake = new FakeActivities();
    fake.history = Array.from({ length: 10 }, (_, i) => 1_700_000_000 - i * 100);
    let release!: () => void;
    fake.importGates.set(2, new Promise<void>((resolve) => (release = resolve)));
    for (const id of [30, 31, 32]) fake.truth.set(id, 1);
    // A refused fetch waits 2 s (not the fake's 60 s): short enough in real time should the server not skip it.
    await scenario(fake, { continueAsNewAfterEvents: 12, importPageSize: 2, rateLimitMaxWaitMs: 2_000 }, async (handle, athleteId) => {
      let signalledIn: string;
      try {
        const deadline = Date.now() + 30_000;
        while (fake.callsOf('importPage').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        // Realtime is rate limited at the first fetch tried while page 2 waits: the events stay queued.
        fake.behaviours = ['RateLimited'];
        for (const id of [30, 31, 32]) await handle.signal(stravaEventSignal, activityEvent(athleteId, id, 'create', 100 + id));
        signalledIn = fake.callsOf('importPage')[1]!.runId;
        await pollUntil(() => fake.callsOf('fetchActivity').length, (n) => n === 1, 10_000);
      } finally {
        release(); // never leave the gated activity hanging (the worker could not shut down)
      }
      await waitFor(handle, (s) => s.import.done);
      await env.sleep(3_000); // the rate window of the refused fetch
      const status = await waitFor(handle, (s) => importDone(s) && s.counters.eventsHandled === 3);

      expect(status.counters.continuedAsNew).toBeGreaterThanOrEqual(2);
      const [refused, ...fetches] = fake.callsOf('fetchActivity');
      expect(refused!.runId).toBe(signalledIn);
      expect(fetches.map((c) => c.input.activityId).sort()).toEqual([30, 31, 32]);
      // The events were signalled to one run and applied by a later one: carried across continue-as-new.
      expect(fetches.every((c) => c.runId !== signalledIn)).toBe(true);
      // The cursor moved strictly backwards across runs: no page was imported twice.
      const pages = fake.callsOf('importPage');
      expect(new Set(pages.map((c) => c.runId)).size).toBeGreaterThan(2);
      const befores = pages.map((c) => c.input.before as number | null);
      expect(befores[0]).toBeNull();
      const numeric = befores.slice(1) as number[];
      expect(numeric).toEqual([...numeric].sort((a, b) => b - a));
      expect(new Set(numeric).size).toBe(numeric.length);
      expect(status.import.pages).toBe(pages.length);
      expect([...fake.stored.keys()].sort()).toEqual([30, 31, 32]);
    });
  });

  it('stretches the backfill interval when the fleet is over budget, dormant athletes most', async () => {
    const nextGap = async (fleet: FakeActivities['fleet']) => {
      const fake = new FakeActivities();
      fake.fleet = fleet;
      return scenario(fake, { backfillIntervalMs: 3 * HOUR }, async (handle) => {
        const status = await waitFor(handle, importDone);
        return Date.parse(status.nextBackfillAt!) - Date.parse(status.lastSyncAt!);
      });
    };
    const underBudget = await nextGap({ athletes: { active: 10, recent: 0, dormant: 0 }, dailyBackgroundBudget: 600, athleteClass: 'active' });
    const overActive = await nextGap({ athletes: { active: 500, recent: 0, dormant: 500 }, dailyBackgroundBudget: 4800, athleteClass: 'active' });
    const overDormant = await nextGap({ athletes: { active: 500, recent: 0, dormant: 500 }, dailyBackgroundBudget: 4800, athleteClass: 'dormant' });
    expect(Math.abs(underBudget - 3 * HOUR)).toBeLessThan(60_000);
    expect(overActive).toBeGreaterThan(3 * HOUR + 60_000);
    expect(overDormant).toBeGreaterThan(overActive * 4);
  });

  it('a new activity Strava confirms pulls a quiet athlete\'s far-off backfill in to the base interval', async () => {
    const fake = new FakeActivities();
    // A dormant athlete in a fleet with reliable webhooks: its backfill is planned 16 base intervals away.
    fake.fleet = {
      athletes: { active: 1, recent: 0, dormant: 1 },
      dailyBackgroundBudget: 600,
      athleteClass: 'dormant',
      evidence: { viaWebhook: 1000, repairs: 0, subscriptionSilent: false },
    };
    await scenario(fake, { backfillIntervalMs: 3 * HOUR }, async (handle, athleteId) => {
      const planned = await waitFor(handle, importDone);
      expect(Date.parse(planned.nextBackfillAt!) - Date.parse(planned.lastSyncAt!)).toBeGreaterThan(40 * HOUR);

      // An event alone moves nothing: a create for an activity Strava does not have (404) keeps the plan.
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 77, 'update', Math.floor(Date.now() / 1000)));
      let status = await waitFor(handle, (s) => s.counters.eventsHandled === 1 && s.state === 'idle');
      expect(status.nextBackfillAt).toBe(planned.nextBackfillAt);

      // A new activity Strava returns: the next backfill comes within one base interval.
      fake.truth.set(78, 1);
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 78, 'create', Math.floor(Date.now() / 1000)));
      status = await waitFor(handle, (s) => s.counters.eventsHandled === 2 && s.state === 'idle');
      const pulledIn = Date.parse(status.nextBackfillAt!);
      expect(pulledIn).toBeLessThan(Date.parse(planned.nextBackfillAt!));
      // Signals and queries do not skip the test server's time: the event came minutes at most after the import.
      expect(pulledIn - Date.parse(planned.lastSyncAt!)).toBeLessThanOrEqual(3 * HOUR + 5 * 60_000);
    });
  });

  it('waits for the rate budget (state rate_limited) and pauses on an application-wide 403', async () => {
    const fake = new FakeActivities();
    fake.history = [1_700_000_000];
    fake.behaviours = ['RateLimited'];
    await scenario(fake, { pausedRetryMs: 2 * HOUR }, async (handle, athleteId) => {
      let status = await waitFor(handle, (s) => s.state === 'rate_limited');
      expect(status.rateLimitedUntil).not.toBeNull();
      await env.sleep(61_000);
      status = await waitFor(handle, importDone);
      expect(status.import.imported).toBe(1);

      fake.truth.set(40, 1);
      fake.behaviours = ['AppForbidden'];
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 40, 'create', 100));
      status = await waitFor(handle, (s) => s.state === 'paused');
      expect(status.pausedUntil).not.toBeNull();
      await env.sleep(2 * HOUR + 60_000);
      await waitFor(handle, (s) => s.state === 'idle' && s.pendingEvents === 0);
      expect(fake.stored.get(40)).toBe(1);
    });
  });
});

describe('athleteSync: events are hints, and what they may cost is bounded', () => {
  const MINUTE = 60_000;
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it('removes an activity on a delete event only once Strava answers 404; a delete Strava contradicts is counted and ignored', async () => {
    const fake = new FakeActivities();
    for (const id of [60, 61, 62]) fake.truth.set(id, 1);
    await scenario(fake, {}, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      for (const id of [60, 61, 62]) await handle.signal(stravaEventSignal, activityEvent(athleteId, id, 'create', 100));
      await waitFor(handle, (s) => s.counters.eventsHandled === 3);
      expect([...fake.stored.keys()].sort()).toEqual([60, 61, 62]);

      fake.truth.delete(61); // really deleted at Strava
      // 60: Strava still has it (a stale or forged delete); 62: delete and create in the same second, Strava decides.
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 60, 'delete', 200));
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 61, 'delete', 200));
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 62, 'delete', 201));
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 62, 'create', 201));
      const status = await waitFor(handle, (s) => s.counters.eventsHandled === 7 && s.state === 'idle');
      expect(fake.callsOf('removeActivity').map((c) => c.input.activityId)).toEqual([61]);
      expect([...fake.stored.keys()].sort()).toEqual([60, 62]);
      expect(status.counters.staleDeletes).toBe(1);
      // Every delete was looked up at Strava first (realtime priority).
      const confirmations = fake.callsOf('fetchActivity').slice(3);
      expect(confirmations.map((c) => c.input.activityId).sort()).toEqual([60, 61, 62]);
      expect(confirmations.every((c) => c.input.priority === 'realtime')).toBe(true);
    });
  });

  it('clamps event times to workflow time: a delete dated 2^53-1 removes nothing and a later genuine update applies', async () => {
    const fake = new FakeActivities();
    fake.truth.set(63, 1);
    await scenario(fake, {}, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 63, 'create', 100));
      await waitFor(handle, (s) => s.counters.eventsHandled === 1);
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 63, 'delete', Number.MAX_SAFE_INTEGER));
      await waitFor(handle, (s) => s.counters.eventsHandled === 2 && s.counters.staleDeletes === 1);
      const forged = fake.callsOf('fetchActivity')[1]!;
      // Clamped to the workflow's clock (the time-skipping server may run ahead of the wall clock, never by years).
      expect(forged.input.eventTime as number).toBeLessThan(nowSeconds() + 366 * 86_400);
      expect(fake.callsOf('removeActivity')).toHaveLength(0);

      fake.truth.set(63, 2);
      await env.sleep(5 * MINUTE);
      await handle.signal(stravaEventSignal, activityEvent(athleteId, 63, 'update', nowSeconds(), { updatedFields: ['title'] }));
      await waitFor(handle, (s) => s.counters.eventsHandled === 3);
      expect(fake.stored.get(63)).toBe(2);
    });
  });

  it('caps what forged creates cost: 50 made-up ids take the bucket (10 fetches) and one list, then a token per refill', async () => {
    const fake = new FakeActivities();
    const options = { eventFetchCapacity: 10, eventFetchRefillMs: 10 * MINUTE, burstListIntervalMs: 60 * MINUTE, burstSettleMs: 30_000, backfillIntervalMs: 100 * HOUR };
    await scenario(fake, options, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      const before = fake.stravaRequests();
      for (let i = 0; i < 50; i++) await handle.signal(stravaEventSignal, activityEvent(athleteId, 900_000 + i, 'create', 100 + i));
      let status = await waitFor(handle, (s) => s.counters.eventsHandled === 50 && s.state === 'idle');
      expect(fake.stravaRequests() - before).toBe(10);
      expect(status.deferredFetches).toBe(40);
      await env.sleep(31_000); // the burst settles: one list instead of 40 fetches
      status = await waitFor(handle, (s) => s.counters.burstLists === 1 && s.state === 'idle');
      expect(fake.stravaRequests() - before).toBe(11);
      expect(fake.callsOf('syncWindow').at(-1)!.input).toMatchObject({ kind: 'quick', priority: 'interactive' });

      // A whole day: each refill buys one fetch (404 re-fetches of the made-up ids included), lists at most hourly.
      await env.sleep(24 * HOUR);
      status = await waitFor(handle, (s) => s.state === 'idle');
      const dayRequests = fake.stravaRequests() - before;
      expect(dayRequests).toBeLessThanOrEqual(10 + 1 + (24 * 60) / 10 + 24);
      expect(fake.callsOf('fetchActivity').length).toBeLessThanOrEqual(10 + (24 * 60) / 10 + 3);
      expect(fake.stored.size).toBe(0);
    });
  });

  it('a burst of 30 real uploads converges with fewer Strava requests than one fetch each', async () => {
    const fake = new FakeActivities();
    const ids = Array.from({ length: 30 }, (_, i) => 700 + i);
    for (const id of ids) fake.truth.set(id, 1);
    // Half of them started recently (a list of the recent window finds them), half are old uploads.
    for (const id of ids.filter((id) => id % 2 === 0)) fake.listable.add(id);
    await scenario(fake, { backfillIntervalMs: 100 * HOUR }, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      const before = fake.stravaRequests();
      for (const id of ids) await handle.signal(stravaEventSignal, activityEvent(athleteId, id, 'create', 1000 + id));
      await waitFor(handle, (s) => s.counters.eventsHandled === 30 && s.state === 'idle');
      await env.sleep(3 * HOUR);
      const status = await waitFor(handle, (s) => s.deferredFetches === 0 && s.state === 'idle');
      expect([...fake.stored.keys()].sort()).toEqual(ids);
      const used = fake.stravaRequests() - before;
      // 10 fetches at once, one list finds the 10 recent among the 20 deferred, 10 fetches as tokens refill.
      expect(used).toBe(21);
      expect(used).toBeLessThan(ids.length);
      expect(status.counters.burstLists).toBe(1);
    });
  });

  it('forged deauthorizations cost the same bucket: 30 of them make at most 10 checks, and a genuine one still purges', async () => {
    const fake = new FakeActivities();
    fake.authorized = true;
    await scenario(fake, { backfillIntervalMs: 100 * HOUR }, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      for (let i = 0; i < 30; i++) {
        await handle.signal(stravaEventSignal, deauthEvent(athleteId, 500 + i));
        // One at a time, as a patient attacker would (a burst would coalesce into one check anyway).
        await waitFor(handle, (s) => s.counters.eventsReceived === i + 1 && s.state === 'idle');
      }
      expect(fake.callsOf('verifyAuthorization')).toHaveLength(10);
      expect((await handle.query(statusQuery)).counters.staleDeauthorizations).toBe(10);

      // The athlete really revokes: the pending check runs at the next token and purges.
      fake.authorized = false;
      await env.sleep(11 * MINUTE);
      await handle.result();
      expect(fake.callsOf('verifyAuthorization')).toHaveLength(11);
      expect(fake.callsOf('purgeAthlete')).toHaveLength(1);
    });
  });

  it('carries the fetch budget and deferred fetches across continue-as-new', async () => {
    const fake = new FakeActivities();
    for (let i = 0; i < 14; i++) fake.truth.set(800 + i, 1);
    // Refills every 5 s of (real) time instead of skipping 45 minutes: env.sleep cannot skip time while the test
    // server holds a status query it left unanswered during continue-as-new, and the test would hang.
    const refill = { eventFetchRefillMs: 5_000 };
    await scenario(fake, { continueAsNewAfterEvents: 60, burstListIntervalMs: 100 * HOUR, backfillIntervalMs: 100 * HOUR, ...refill }, async (handle, athleteId) => {
      await waitFor(handle, importDone);
      for (let i = 0; i < 14; i++) await handle.signal(stravaEventSignal, activityEvent(athleteId, 800 + i, 'create', 100 + i));
      const status = await waitFor(handle, (s) => s.counters.eventsHandled === 14 && s.state === 'idle' && s.counters.continuedAsNew >= 1);
      // The next run still knows the bucket is spent and which activities wait for a token: a bucket refilled by the
      // continue-as-new would have fetched all four at once. (A token may have come back since: one fetch each.)
      const refilledSince = fake.callsOf('fetchActivity').length - 10;
      expect(refilledSince).toBeGreaterThanOrEqual(0);
      expect(status.deferredFetches).toBe(4 - refilledSince);
      expect(status.deferredFetches).toBeGreaterThan(0);
      await waitFor(handle, (s) => s.deferredFetches === 0, 40_000);
      expect(fake.stored.size).toBe(14);
      expect(fake.callsOf('fetchActivity')).toHaveLength(14);
    });
  });
});
