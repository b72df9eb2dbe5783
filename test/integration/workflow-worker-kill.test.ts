import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { expectConverged, listRequests, rowCounts, storedActivities, tooManyRequests, truthActivities } from './helpers/ground-truth.js';
import { importPageRunning } from './helpers/pending-activities.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';
import { createHarness, waitForStatus, type Harness } from './workflow-harness.js';

/**
 * A worker process dies mid-import (SIGKILL: no graceful shutdown, its in-flight activity simply vanishes) and a
 * new worker process takes over: the import resumes from the workflow's cursor and ends with exactly Strava's
 * activities. The workers are real OS processes wired like `strava-sync worker`.
 */

const db = useTestDatabase();
let emulator: RunningEmulator;
let dev: DevServerHandles;
let harness: Harness;
let workerEnv: Record<string, string>;
const processes: WorkerProcess[] = [];

const ACTIVITIES = 1400; // 7 full pages, then an empty one that ends the import
const LIST_PAGES = 8;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 77, rateLimits: { read: { fifteenMinute: 600, daily: 30_000 }, overall: { fifteenMinute: 1200, daily: 60_000 } } });
  dev = await connectDevServer();
  const env = { STRAVA_READ_LIMIT_15MIN: '600', STRAVA_READ_LIMIT_DAILY: '30000' };
  harness = await createHarness(db.sql, db.url, emulator, dev, env);
  workerEnv = {
    ...env,
    DATABASE_URL: db.url,
    STRAVA_API_URL: emulator.apiUrl,
    STRAVA_OAUTH_URL: emulator.oauthUrl,
    STRAVA_CLIENT_ID: emulator.clientId,
    STRAVA_CLIENT_SECRET: emulator.clientSecret,
    TEMPORAL_TASK_QUEUE: harness.taskQueue,
  };
});

afterAll(async () => {
  for (const p of processes) await p.kill();
  await harness?.close();
  await dev?.close();
  await emulator?.close();
});

describe('a worker process killed mid-import', () => {
  it('is replaced by a new process that completes the import: nothing missing, no duplicates', async () => {
    // Slow Strava down so the import is still running when the first worker dies.
    await emulator.control.setFaults({ apiLatencyMs: 400 });
    const requestsBefore = await listRequests(emulator);
    const first = await startWorkerProcess(workerEnv);
    processes.push(first);
    const { athleteId, handle } = await harness.connectAthlete(ACTIVITIES);

    const atKill = await waitForStatus(handle, (s) => s.import.pages >= 2, 30_000);
    // Kill while a page is in flight on that worker: the hard case (the server only learns of it by timeout).
    await importPageRunning(handle);
    await first.kill();
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(first.alive()).toBe(false);
    expect(atKill.import.done).toBe(false);

    await emulator.control.setFaults({ apiLatencyMs: 0 });
    const second = await startWorkerProcess(workerEnv);
    processes.push(second);
    const status = await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 45_000);
    expect(status.import.pages).toBeGreaterThan(atKill.import.pages);
    expect(status.import.imported).toBe(ACTIVITIES);

    await expectConverged(db.sql, emulator, athleteId, 10_000, handle);
    const truth = await truthActivities(emulator, athleteId);
    expect(truth).toHaveLength(ACTIVITIES);
    expect((await storedActivities(db.sql, athleteId)).map((r) => r.id)).toEqual(truth.map((r) => r.id));
    expect(await rowCounts(db.sql, athleteId)).toEqual({ rows: ACTIVITIES, ids: ACTIVITIES });
    // Every page once, plus at most the page the dead worker had in flight (and one retry of it).
    const used = (await listRequests(emulator)) - requestsBefore;
    expect(used).toBeGreaterThanOrEqual(LIST_PAGES);
    expect(used).toBeLessThanOrEqual(LIST_PAGES + 2);
    expect(await tooManyRequests(emulator)).toBe(0);

    expect(await second.stop()).toBe(0);
    expect(second.alive()).toBe(false);
  });
});
