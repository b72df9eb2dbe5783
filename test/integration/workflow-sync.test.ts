import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { statusQuery } from '../../src/workflows/messages.js';
import type { AthleteWorker } from '../../src/worker/create-worker.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import {
  expectConverged as expectConvergedWith,
  listRequests as countListRequests,
  storedActivities,
  tooManyRequests as count429s,
  truthActivities,
} from './helpers/ground-truth.js';
import { collectHistories, createHarness, secretsIn, waitForStatus, type Handle, type Harness } from './workflow-harness.js';

/**
 * The athlete workflow end to end: dev server, real PostgreSQL, the emulator over HTTP, webhooks delivered by
 * the emulator (through a small receiver that signals the workflow).
 */

const db = useTestDatabase();
let emulator: RunningEmulator;
let dev: DevServerHandles;
let harness: Harness;
let mainWorker: AthleteWorker;

const LIMITS = { fifteenMinute: 600, daily: 30_000 };

beforeAll(async () => {
  emulator = await startEmulator({ seed: 55, webhookRetryDelayMs: 1_000, rateLimits: { read: LIMITS, overall: { fifteenMinute: 1200, daily: 60_000 } } });
  dev = await connectDevServer();
  harness = await createHarness(db.sql, db.url, emulator, dev, {
    STRAVA_READ_LIMIT_15MIN: String(LIMITS.fifteenMinute),
    STRAVA_READ_LIMIT_DAILY: String(LIMITS.daily),
  });
  await harness.listenForWebhooks();
  mainWorker = await harness.startWorker();
});

afterAll(async () => {
  await harness?.close();
  await dev?.close();
  await emulator?.close();
});

const listRequests = () => countListRequests(emulator);
const tooManyRequests = () => count429s(emulator);
const stored = (athleteId: number) => storedActivities(db.sql, athleteId);
const truth = (athleteId: number) => truthActivities(emulator, athleteId);
/** Waits until the database holds exactly what Strava shows the app for this athlete. */
const expectConverged = (athleteId: number, timeoutMs = 30_000, handle?: Handle) =>
  expectConvergedWith(db.sql, emulator, athleteId, timeoutMs, handle);

describe('athlete workflow on the dev server with the emulator', () => {
  it('imports 2,000 activities with ceil(2000/200) + a small constant list requests', async () => {
    const before = await listRequests();
    const { athleteId, handle } = await harness.connectAthlete(2000);
    const status = await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 60_000);
    expect(status.import.imported).toBe(2000);
    const used = (await listRequests()) - before;
    expect(used).toBeGreaterThanOrEqual(10);
    expect(used).toBeLessThanOrEqual(10 + 2);
    await expectConverged(athleteId);
    const [{ detail }] = await db.sql<[{ detail: number }]>`
      select count(*)::int as detail from activities where athlete_id = ${athleteId} and detail_level <> 2`;
    expect(detail).toBe(0);
    const [athlete] = await db.sql<{ state: string; lastSyncAt: Date | null }[]>`
      select state, last_sync_at as "lastSyncAt" from athletes where id = ${athleteId}`;
    expect(athlete).toMatchObject({ state: 'idle' });
    expect(athlete!.lastSyncAt).not.toBeNull();
  });

  it('finishes an import after its worker is stopped mid-way: no duplicates, nothing missing', async () => {
    // The file's worker stops; a new one imports, slowed down by emulator latency, and is stopped mid-import.
    await mainWorker.shutdown();
    await emulator.control.setFaults({ apiLatencyMs: 300 });
    const { athleteId, handle } = await harness.connectAthlete(1400);
    const first = await harness.startWorker();
    let atStop;
    try {
      atStop = await waitForStatus(handle, (s) => s.import.pages >= 2, 30_000);
      await first.shutdown();
    } finally {
      await emulator.control.setFaults({ apiLatencyMs: 0 });
      mainWorker = await harness.startWorker();
    }
    const status = await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 60_000);
    // Stopped mid-import (7 full pages and a short one in all), resumed from the cursor by the new worker.
    expect(atStop.import.done).toBe(false);
    expect(status.import.pages).toBeGreaterThan(atStop.import.pages);
    expect(status.import.imported).toBe(1400);
    await expectConverged(athleteId);
  });

  it('applies webhook creates, updates, deletes and privacy flips until the database equals the ground truth', async () => {
    const { athleteId, handle } = await harness.connectAthlete(15, { sync: { notFoundRetryDelaysMs: [1_000, 2_000, 4_000] } });
    const readOnly = await harness.connectAthlete(8, { scope: 'read,activity:read' });
    await waitForStatus(handle, (s) => s.import.done && s.state === 'idle');
    await waitForStatus(readOnly.handle, (s) => s.import.done && s.state === 'idle');
    await expectConverged(readOnly.athleteId, 10_000, readOnly.handle);
    const [first, second, third] = await truth(athleteId);

    const created = await emulator.control.createActivity(athleteId, { name: 'Lunch Ride', sport_type: 'Ride' });
    // Still processing at Strava: the first fetch 404s and the workflow retries.
    const slow = await emulator.control.createActivity(athleteId, { name: 'Slow Upload' }, { processingMs: 1_500 });
    await emulator.control.updateActivity(created.id, { name: 'Lunch Ride (renamed)' });
    await emulator.control.updateActivity(first!.id, { private: true, visibility: 'only_me' });
    await emulator.control.updateActivity(second!.id, { sport_type: 'Hike' });
    await emulator.control.deleteActivity(third!.id);

    // activity:read only: "Only You" arrives as a delete, and making it visible again as a create.
    const [hidden] = await truth(readOnly.athleteId);
    await emulator.control.updateActivity(hidden!.id, { visibility: 'only_me', private: true });
    await emulator.control.webhooksSettled();
    await expectConverged(readOnly.athleteId, 10_000, readOnly.handle);
    expect((await stored(readOnly.athleteId)).some((r) => r.id === hidden!.id)).toBe(false);
    await emulator.control.updateActivity(hidden!.id, { visibility: 'everyone', private: false });

    await emulator.control.webhooksSettled();
    // The slow upload becomes visible after its processing time; the workflow's 404 retries pick it up.
    await waitFor(() => stored(athleteId), (rows) => rows.some((r) => r.id === slow.id), { timeoutMs: 20_000, intervalMs: 200, what: 'the slow upload' });
    await expectConverged(athleteId);
    await expectConverged(readOnly.athleteId);
    const rows = await stored(athleteId);
    expect(rows.find((r) => r.id === created.id)?.name).toBe('Lunch Ride (renamed)');
    expect(rows.some((r) => r.id === slow.id)).toBe(true);
    expect(rows.find((r) => r.id === first!.id)?.private).toBe(true);
    expect(rows.some((r) => r.id === third!.id)).toBe(false);
    const [detail] = await db.sql<{ level: number }[]>`select detail_level as level from activities where id = ${created.id}`;
    expect(detail!.level).toBe(3);
    const status = await handle.query(statusQuery);
    expect(status.counters.eventsHandled).toBeGreaterThanOrEqual(6);
    expect(await tooManyRequests()).toBe(0);
  });

  it('repairs dropped webhooks at the next backfill and counts the repairs', async () => {
    const { athleteId, handle } = await harness.connectAthlete(10, { sync: { backfillIntervalMs: 3_000 } });
    await waitForStatus(handle, (s) => s.import.done);
    const recent = await emulator.control.createActivity(athleteId, { name: 'Before the outage' });
    const renamed = await emulator.control.createActivity(athleteId, { name: 'Old name' });
    await emulator.control.webhooksSettled();
    await expectConverged(athleteId);
    const repairsBefore = (await handle.query(statusQuery)).counters.repairs;

    await emulator.control.setFaults({ webhookDropRate: 1 });
    try {
      await emulator.control.createActivity(athleteId, { name: 'Missed create' });
      await emulator.control.updateActivity(renamed.id, { name: 'New name' });
      await emulator.control.deleteActivity(recent.id);
      await emulator.control.webhooksSettled();
      await expectConverged(athleteId, 20_000, handle);
    } finally {
      await emulator.control.setFaults({ webhookDropRate: 0 });
    }
    const status = await waitForStatus(handle, (s) => s.counters.repairs >= repairsBefore + 3);
    expect(status.counters.backfills).toBeGreaterThanOrEqual(1);
  });

  it('leaves no token or client secret in any workflow history (and records replay fixtures)', async () => {
    const histories = await collectHistories(harness, dev, 'sync');
    expect(histories.length).toBeGreaterThanOrEqual(harness.handles.length);
    expect(harness.secrets.size).toBeGreaterThan(2);
    expect(secretsIn(histories, harness.secrets)).toEqual([]);
  });
});
