import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { FIFTEEN_MINUTES_MS, windowStart } from '../../src/strava/rate-headers.js';
import type { AthleteStatus } from '../../src/workflows/athlete-state.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { expectConverged, listRequests, rowCounts, storedActivities, tooManyRequests, truthActivities } from './helpers/ground-truth.js';
import { createHarness, waitForStatus, type Harness } from './workflow-harness.js';

/**
 * Rate-limit exhaustion mid-import against the emulator's real limits. The 15-minute read limit (10, of which
 * the background share 0.6 allows 6 calls) is smaller than the history (8 list pages), so the governor refuses
 * the 7th page before it is sent; the workflow waits durably in state `rate_limited` and finishes in the next
 * window. The governor and the emulator share one clock (the emulator's: real time plus an offset the test
 * controls), so the test places the run near a window boundary instead of waiting up to 15 real minutes.
 */

const db = useTestDatabase();
let emulator: RunningEmulator;
let dev: DevServerHandles;
let harness: Harness;

const READ_LIMIT_15MIN = 10;
const PAGES_PER_WINDOW = Math.floor(READ_LIMIT_15MIN * 0.6); // RATE_BACKGROUND_SHARE
const ACTIVITIES = 1500; // 7 full pages and a short one
const LIST_PAGES = 8;
/** Emulator time left in the window when the import starts: enough for the first window's pages. */
const MARGIN_MS = 15_000;

beforeAll(async () => {
  emulator = await startEmulator({
    seed: 91,
    rateLimits: { read: { fifteenMinute: READ_LIMIT_15MIN, daily: 100_000 }, overall: { fifteenMinute: 2 * READ_LIMIT_15MIN, daily: 200_000 } },
  });
  dev = await connectDevServer();
  harness = await createHarness(db.sql, db.url, emulator, dev, {
    STRAVA_READ_LIMIT_15MIN: String(READ_LIMIT_15MIN),
    STRAVA_READ_LIMIT_DAILY: '100000',
    RATE_BACKGROUND_SHARE: '0.6',
  });
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.close();
  await dev?.close();
  await emulator?.close();
});

async function expectImportedExactly(athleteId: number, status: AthleteStatus) {
  expect(status.import.imported).toBe(ACTIVITIES);
  await expectConverged(db.sql, emulator, athleteId, 10_000);
  const truth = await truthActivities(emulator, athleteId);
  expect(truth).toHaveLength(ACTIVITIES);
  expect((await storedActivities(db.sql, athleteId)).map((r) => r.id)).toEqual(truth.map((r) => r.id));
  expect(await rowCounts(db.sql, athleteId)).toEqual({ rows: ACTIVITIES, ids: ACTIVITIES });
}

async function expectNo429s() {
  expect(await tooManyRequests(emulator)).toBe(0);
  expect((await emulator.control.counters()).rateLimited).toBe(0);
}

describe('rate limit exhaustion mid-import', () => {
  it('waits in rate_limited for exactly the governor’s window and completes after it with zero 429s', async () => {
    // Start MARGIN_MS before a window boundary (the clock only moves forward).
    const boundary = windowStart(emulator.now() + MARGIN_MS) + FIFTEEN_MINUTES_MS;
    await emulator.control.setClock(boundary - MARGIN_MS);
    const requestsBefore = await listRequests(emulator);
    const { athleteId, handle } = await harness.connectAthlete(ACTIVITIES);

    const waiting = await waitForStatus(handle, (s) => s.state === 'rate_limited', MARGIN_MS);
    const offset = emulator.now() - Date.now();
    expect(emulator.now()).toBeLessThan(boundary);
    expect(waiting.import).toMatchObject({ done: false, pages: PAGES_PER_WINDOW });
    expect(waiting.lastError?.type).toBe('RateLimited');
    // The durable wait ends at the window boundary (the governor's waitMs), in real time.
    expect(waiting.rateLimitedUntil).not.toBeNull();
    expect(Math.abs(Date.parse(waiting.rateLimitedUntil!) - (boundary - offset))).toBeLessThan(2_000);
    expect((await listRequests(emulator)) - requestsBefore).toBe(PAGES_PER_WINDOW);

    const status = await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', MARGIN_MS + 20_000);
    expect(emulator.now()).toBeGreaterThanOrEqual(boundary);
    expect(status.counters.rateLimitWaits).toBeGreaterThanOrEqual(1);
    expect(status.import.pages).toBe(LIST_PAGES);
    // The refused page was never sent: one request per page.
    expect((await listRequests(emulator)) - requestsBefore).toBe(LIST_PAGES);
    await expectImportedExactly(athleteId, status);
    await expectNo429s();
  });

  it('sends nothing while the window is spent and resumes once the emulator clock crosses the boundary', async () => {
    // A fresh window, a minute in: the governor asks for a ~14-minute wait; the workflow re-asks every second.
    await emulator.control.setClock(windowStart(emulator.now()) + 2 * FIFTEEN_MINUTES_MS + 60_000);
    const requestsBefore = await listRequests(emulator);
    const { athleteId, handle } = await harness.connectAthlete(ACTIVITIES, { sync: { rateLimitMaxWaitMs: 1_000 } });

    const waiting = await waitForStatus(handle, (s) => s.state === 'rate_limited', 20_000);
    expect(waiting.import).toMatchObject({ done: false, pages: PAGES_PER_WINDOW });
    const waitsBefore = waiting.counters.rateLimitWaits;
    // Several refusals later: still waiting, and not one request reached Strava.
    const still = await waitForStatus(handle, (s) => s.state === 'rate_limited' && s.counters.rateLimitWaits >= waitsBefore + 2, 10_000);
    expect(still.import.pages).toBe(PAGES_PER_WINDOW);
    expect((await listRequests(emulator)) - requestsBefore).toBe(PAGES_PER_WINDOW);

    await emulator.control.advanceClock(FIFTEEN_MINUTES_MS);
    const status = await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 20_000);
    expect(status.import.pages).toBe(LIST_PAGES);
    expect((await listRequests(emulator)) - requestsBefore).toBe(LIST_PAGES);
    await expectImportedExactly(athleteId, status);
    await expectNo429s();
  });
});
