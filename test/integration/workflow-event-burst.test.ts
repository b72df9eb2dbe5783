import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { statusQuery, stravaEventSignal } from '../../src/workflows/messages.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { expectConverged, storedActivities, tooManyRequests, truthActivities } from './helpers/ground-truth.js';
import { collectHistories, createHarness, secretsIn, waitForStatus, type Harness } from './workflow-harness.js';

/**
 * The per-athlete event fetch budget against the emulator: a burst of 30 real uploads (webhooks delivered by the
 * emulator) converges with fewer Strava requests than one fetch each, and deletes are confirmed with Strava.
 * Records the `burst-*` replay fixtures (RECORD_HISTORIES=1): histories with the patched behaviour.
 */

const db = useTestDatabase();
let emulator: RunningEmulator;
let dev: DevServerHandles;
let harness: Harness;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 77, webhookRetryDelayMs: 1_000 }); // a retry under load lands within webhooksSettled
  dev = await connectDevServer();
  harness = await createHarness(db.sql, db.url, emulator, dev);
  await harness.listenForWebhooks();
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.close();
  await dev?.close();
  await emulator?.close();
});

const requestsOf = async (endpoint: string) =>
  Object.values((await emulator.control.counters()).requests[endpoint] ?? {}).reduce((a, b) => a + b, 0);
const stravaReads = async () => (await requestsOf('GET /api/v3/activities/{id}')) + (await requestsOf('GET /api/v3/athlete/activities'));

describe('event fetch budget on the dev server with the emulator', () => {
  it('30 uploads at once (20 of them old) converge with fewer requests than 30; deletes are confirmed with Strava', async () => {
    // Budget 10, a token every 3 s, the burst list 2 s after the first deferred fetch (production: 10 min, 30 s).
    const { athleteId, handle } = await harness.connectAthlete(12, {
      sync: { eventFetchCapacity: 10, eventFetchRefillMs: 3_000, burstSettleMs: 2_000, burstListIntervalMs: 60_000 },
    });
    await waitForStatus(handle, (s) => s.import.done && s.state === 'idle');
    const before = await stravaReads();

    // Old uploads first (a device syncing its backlog, start dates years back: no recent-window list finds them),
    // then recent ones.
    const uploads = [];
    for (let i = 0; i < 20; i++) {
      uploads.push(await emulator.control.createActivity(athleteId, { name: `Old ${i}`, start_date: new Date(Date.UTC(2021, 0, 1 + i)).toISOString() }));
    }
    for (let i = 0; i < 10; i++) uploads.push(await emulator.control.createActivity(athleteId, { name: `Recent ${i}` }));
    await emulator.control.webhooksSettled();
    await expectConverged(db.sql, emulator, athleteId, 60_000, handle);
    const status = await waitForStatus(handle, (s) => s.deferredFetches === 0 && s.state === 'idle');
    const used = (await stravaReads()) - before;
    expect(used).toBeLessThan(uploads.length);
    expect(status.counters.burstLists).toBeGreaterThanOrEqual(1);
    expect(status.counters.fetchesDeferred).toBeGreaterThan(0);

    // A genuine delete (confirmed: Strava answers 404) and a forged one (Strava still returns the activity); with
    // the bucket still refilling they may wait for tokens, which is the point.
    const [kept, gone] = await truthActivities(emulator, athleteId);
    await emulator.control.deleteActivity(gone!.id);
    await handle.signal(stravaEventSignal, {
      objectType: 'activity', objectId: kept!.id, aspectType: 'delete', ownerId: athleteId, eventTime: Math.floor(Date.now() / 1000), updatedFields: [],
    });
    await emulator.control.webhooksSettled();
    await waitForStatus(handle, (s) => s.counters.staleDeletes === 1 && s.deferredFetches === 0 && s.state === 'idle', 60_000);
    await expectConverged(db.sql, emulator, athleteId, 20_000, handle);
    const ids = (await storedActivities(db.sql, athleteId)).map((r) => r.id);
    expect(ids).toContain(kept!.id);
    expect(ids).not.toContain(gone!.id);
    expect(await tooManyRequests(emulator)).toBe(0);
    expect((await handle.query(statusQuery)).pendingEvents).toBe(0);
  });

  it('leaves no secret in its histories (and records them as replay fixtures with RECORD_HISTORIES=1)', async () => {
    const histories = await collectHistories(harness, dev, 'burst');
    expect(histories.length).toBeGreaterThanOrEqual(1);
    expect(secretsIn(histories, harness.secrets)).toEqual([]);
  });
});
