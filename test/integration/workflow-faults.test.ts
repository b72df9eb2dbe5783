import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../../src/db/connection.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { statusQuery } from '../../src/workflows/messages.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { proxiedUrl, startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import {
  expectConverged,
  rowCounts,
  serverErrorsByEndpoint,
  storedActivities,
  tooManyRequests,
  truthActivities,
} from './helpers/ground-truth.js';
import { importPageRunning } from './helpers/pending-activities.js';
import { createHarness, waitForStatus, type Handle, type Harness } from './workflow-harness.js';

/**
 * Failures users meet, end to end (dev server, real PostgreSQL, the emulator over HTTP, real activities):
 * Strava answering 5xx and slowly during an import and webhook-driven fetches, and PostgreSQL becoming
 * unreachable for the worker in the middle of an import.
 */

const db = useTestDatabase();
let emulator: RunningEmulator;
let dev: DevServerHandles;
/** Worker on the test's own database connection; receives the emulator's webhooks. */
let direct: Harness;
/** Worker whose every database connection (activities, token vault, rate governor) goes through `proxy`. */
let proxied: Harness;
let proxy: TcpProxy;
let workerSql: Sql;

/**
 * The fault decisions come from a seeded stream, one draw per API call, and in the 5xx test only one workflow
 * calls Strava, one call at a time. With this seed the first import request is answered 500 and no call meets
 * more than two 500s in a row in the first 200 draws, so no activity exhausts its retries (which would leave
 * the repair to a backfill hours later).
 */
const SEED = 1328;
const ERROR_RATE = 0.3;
const LIMITS = { read: { fifteenMinute: 600, daily: 30_000 }, overall: { fifteenMinute: 1200, daily: 60_000 } };
const ENV = { STRAVA_READ_LIMIT_15MIN: String(LIMITS.read.fifteenMinute), STRAVA_READ_LIMIT_DAILY: String(LIMITS.read.daily) };

beforeAll(async () => {
  emulator = await startEmulator({ seed: SEED, rateLimits: LIMITS, webhookRetryDelayMs: 1_000 });
  dev = await connectDevServer();
  direct = await createHarness(db.sql, db.url, emulator, dev, ENV);
  await direct.listenForWebhooks();
  await direct.startWorker();

  proxy = await startDatabaseProxy(db.url);
  const workerUrl = proxiedUrl(db.url, proxy);
  workerSql = createSql(workerUrl, { max: 5, applicationName: 'workflow-faults-worker' });
  // postgres.js learns array types on its first connection; sql.array() in a pool's very first query (here the
  // harness's upsertConnectedAthlete, outside a transaction) would be sent as text. Product code runs those
  // queries in transactions, after the connection is made.
  await workerSql`select 1`;
  proxied = await createHarness(workerSql, workerUrl, emulator, dev, ENV);
  await proxied.startWorker();
});

afterAll(async () => {
  await proxy?.start().catch(() => {}); // already listening unless a test failed mid-cut
  await direct?.close();
  await proxied?.close();
  await workerSql?.end({ timeout: 1 });
  await proxy?.stop();
  await dev?.close();
  await emulator?.close();
});

async function expectRunning(handle: Handle) {
  const { status } = await handle.describe();
  expect(status.name).toBe('RUNNING');
}

async function athleteState(athleteId: number): Promise<string | undefined> {
  const [row] = await db.sql<{ state: string }[]>`select state from athletes where id = ${athleteId}`;
  return row?.state;
}

type PendingActivity = NonNullable<Awaited<ReturnType<Handle['describe']>>['raw']['pendingActivities']>[number];

/** Waits until the server shows an activity of the workflow that failed and is being retried. */
async function retriedActivity(handle: Handle, timeoutMs: number): Promise<{ type: string; attempt: number; failure: string }> {
  const isRetried = (a: PendingActivity) => (a.attempt ?? 1) >= 2 && !!a.lastFailure;
  const pending = await waitFor(async () => (await handle.describe()).raw.pendingActivities ?? [], (list) => list.some(isRetried), {
    timeoutMs,
    intervalMs: 100,
    what: 'an activity retried',
  });
  const retried = pending.find(isRetried)!;
  return { type: retried.activityType?.name ?? '?', attempt: retried.attempt ?? 0, failure: retried.lastFailure?.message ?? '' };
}

describe('Strava answering 5xx and slowly', () => {
  it('completes the import and applies create/update/delete events; the workflow stays idle, not failed', async () => {
    await emulator.control.setFaults({ apiErrorRate: ERROR_RATE, apiLatencyMs: 100 });
    try {
      // This test is about 5xx, not the event fetch budget (workflow-event-burst.test.ts): eleven events on a loaded
      // machine may not share batches, and the eleventh would wait for a token refill.
      const { athleteId, handle } = await direct.connectAthlete(600, { sync: { eventFetchCapacity: 50 } });
      await waitForStatus(handle, (s) => s.import.pages >= 1, 30_000);
      const [a, b, c, d, f] = await truthActivities(emulator, athleteId);
      // Made private below: must be public now, or Strava sends no event.
      const e = (await truthActivities(emulator, athleteId)).find((r) => !r.private && ![a, b, c, d, f].includes(r));

      // During the import: applied at the next page boundary, each fetch meeting the same 5xx.
      await emulator.control.createActivity(athleteId, { name: 'Morning Run (during import)' });
      await emulator.control.createActivity(athleteId, { name: 'Evening Ride (during import)', sport_type: 'Ride' });
      await emulator.control.updateActivity(a!.id, { name: 'Renamed during import' });
      await emulator.control.updateActivity(b!.id, { name: 'Renamed during import, too' });
      await emulator.control.deleteActivity(c!.id);

      await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 45_000);

      // After the import: real-time events on an idle workflow.
      const late = await emulator.control.createActivity(athleteId, { name: 'Lunch Swim', sport_type: 'Swim' });
      await emulator.control.createActivity(athleteId, { name: 'Night Walk', sport_type: 'Walk' });
      await emulator.control.updateActivity(late.id, { name: 'Lunch Swim (renamed)' });
      await emulator.control.updateActivity(d!.id, { name: 'Renamed after import' });
      await emulator.control.updateActivity(e!.id, { private: true, visibility: 'only_me' });
      await emulator.control.deleteActivity(f!.id);
      await emulator.control.webhooksSettled();

      await expectConverged(db.sql, emulator, athleteId, 45_000, handle);
      const rows = await storedActivities(db.sql, athleteId);
      expect(rows.find((r) => r.id === late.id)?.name).toBe('Lunch Swim (renamed)');
      expect(rows.find((r) => r.id === a!.id)?.name).toBe('Renamed during import');
      expect(rows.some((r) => r.id === c!.id || r.id === f!.id)).toBe(false);
      const counts = await rowCounts(db.sql, athleteId);
      expect(counts.rows).toBe(counts.ids);

      // 5xx were really served, to the import's list requests and to the webhook-driven fetches.
      const errors = await serverErrorsByEndpoint(emulator);
      expect(errors['GET /api/v3/athlete/activities']).toBeGreaterThanOrEqual(1);
      expect(errors['GET /api/v3/activities/{id}']).toBeGreaterThanOrEqual(1);
      expect(await tooManyRequests(emulator)).toBe(0);

      // Eleven events sent, every one handled (none dropped after exhausted retries), none left waiting.
      const status = await waitForStatus(handle, (s) => s.state === 'idle' && s.counters.eventsHandled >= 11, 10_000);
      expect(status.pendingEvents).toBe(0);
      expect(status.counters.droppedEvents).toBe(0);
      await expectRunning(handle);
      expect(await athleteState(athleteId)).toBe('idle');
    } finally {
      await emulator.control.setFaults({ apiErrorRate: 0, apiLatencyMs: 0 });
    }
  }, 180_000);
});

describe('PostgreSQL unreachable for the worker mid-import', () => {
  it('retries the failing activities and completes the import with no duplicates once the database is back', async () => {
    const ACTIVITIES = 1000; // 5 full pages, then an empty one that ends the import
    const CUT_MS = 4_000;
    // Slow Strava a little so the cut lands mid-import rather than after it.
    await emulator.control.setFaults({ apiLatencyMs: 150 });
    try {
      const { athleteId, handle } = await proxied.connectAthlete(ACTIVITIES);
      const atCut = await waitForStatus(handle, (s) => s.import.pages >= 1, 30_000);
      // Cut while a page is being fetched: its database write fails (the hard case).
      await importPageRunning(handle);
      await proxy.stop();
      const cutAt = Date.now();
      try {
        // The worker's activities fail and Temporal retries them (no Strava error: a database one).
        const retried = await retriedActivity(handle, CUT_MS + 2_000);
        expect(retried.attempt).toBeGreaterThanOrEqual(2);
        expect(retried.failure).toMatch(/ECONNREFUSED|ECONNRESET|CONNECTION_CLOSED|CONNECTION_ENDED/);
        await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
        // No progress without the database: at most the page that finished before the cut.
        const during = await handle.query(statusQuery);
        expect(during.import.done).toBe(false);
        expect(during.import.pages).toBeLessThanOrEqual(atCut.import.pages + 1);
      } finally {
        await proxy.start();
      }

      const status = await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 45_000);
      expect(status.import.imported).toBe(ACTIVITIES);
      await expectConverged(db.sql, emulator, athleteId, 10_000, handle);
      const truth = await truthActivities(emulator, athleteId);
      expect(truth).toHaveLength(ACTIVITIES);
      expect(await rowCounts(db.sql, athleteId)).toEqual({ rows: ACTIVITIES, ids: ACTIVITIES });
      await expectRunning(handle);
      expect(await athleteState(athleteId)).toBe('idle');
      expect(await tooManyRequests(emulator)).toBe(0);
    } finally {
      await emulator.control.setFaults({ apiLatencyMs: 0 });
    }
  });
});
