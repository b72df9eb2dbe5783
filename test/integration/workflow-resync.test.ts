import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { resyncRangeSignal } from '../../src/workflows/messages.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { expectConverged, storedActivities } from './helpers/ground-truth.js';
import { collectHistories, createHarness, secretsIn, waitForStatus, type Harness } from './workflow-harness.js';

/**
 * Range re-sync on the dev server with the emulator (issue 13): an activity removed from the database behind the
 * workflow's back is back after a re-sync of its window, an activity Strava deleted without a webhook is gone,
 * and the histories hold no secret. Records the `resync-*` replay fixtures (RECORD_HISTORIES=1): histories with
 * the range re-sync steps.
 */
const db = useTestDatabase();
let emulator: RunningEmulator;
let dev: DevServerHandles;
let harness: Harness;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 87 });
  dev = await connectDevServer();
  harness = await createHarness(db.sql, db.url, emulator, dev);
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.close();
  await dev?.close();
  await emulator?.close();
});

describe('range re-sync on the dev server with the emulator', () => {
  it('repairs the window in pages and reports the result in the status', async () => {
    const { athleteId, handle } = await harness.connectAthlete(120, { sync: { importPageSize: 50 } });
    await waitForStatus(handle, (s) => s.import.done && s.state === 'idle');
    const [lost, deletedAtStrava] = await storedActivities(db.sql, athleteId);
    await db.sql`delete from activities where id = ${lost!.id}`;
    await emulator.control.deleteActivity(deletedAtStrava!.id);
    const now = Math.floor(emulator.now() / 1000);
    await handle.signal(resyncRangeSignal, { id: 'resync-it-1', after: now - 20 * 365 * 86_400, before: now + 60 });
    const done = await waitForStatus(handle, (s) => s.lastResync?.id === 'resync-it-1' && s.state === 'idle', 60_000);
    expect(done.lastResync).toMatchObject({ added: 1, deleted: 1 });
    // 119 visible activities in pages of 50: three pages (and an overlap or two).
    expect(done.lastResync!.pages).toBeGreaterThanOrEqual(3);
    await expectConverged(db.sql, emulator, athleteId, 20_000, handle);
  });

  it('leaves no secret in its histories (and records them as replay fixtures with RECORD_HISTORIES=1)', async () => {
    const histories = await collectHistories(harness, dev, 'resync');
    expect(histories.length).toBeGreaterThanOrEqual(1);
    expect(secretsIn(histories, harness.secrets)).toEqual([]);
  });
});
