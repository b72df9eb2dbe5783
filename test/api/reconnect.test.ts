import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { expectConverged, storedActivities } from '../integration/helpers/ground-truth.js';
import { startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';
import { testBrowser } from './helpers/browser.js';

/**
 * Issue 13, the reconnect path on real Temporal, PostgreSQL and the emulator (which delivers real webhooks to the
 * API): an athlete whose authorization Strava no longer accepts is needs_reauth; webhook events that arrive meanwhile
 * wait in the workflow (no Strava call is made); when the athlete connects again through /auth/strava the workflow
 * is back to idle, applies the waiting events and runs a catch-up sync that also finds the change whose webhook
 * was lost.
 */
const db = useTestDatabase();

interface StatusBody {
  state: string;
  source: string;
  workflow: { live?: { state: string; pendingEvents: number; import: { done: boolean }; counters: { eventsHandled: number; quickSyncs: number; requests: number } } };
}

describe('reconnect after needs_reauth', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  const athleteId = uniqueAthleteId();

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 41, webhookRetryDelayMs: 100 })]);
    api = await startApi({ db, dev, emulator, relay: true, webhookRelay: { idlePollMs: 200 } });
    worker = await startWorker(api, dev, db.sql, emulator);
    expect((await api.fetch('/admin/subscription', { method: 'POST', admin: true })).status).toBe(201);
  });
  afterAll(async () => {
    await dev?.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const status = async () => (await (await api.fetch(`/athletes/${athleteId}`, { admin: true })).json()) as StatusBody;

  /** The athlete goes through /auth/strava and the emulator's consent page, as a browser would. */
  async function connectThroughOAuth(): Promise<{ reconnected: boolean }> {
    const browser = testBrowser();
    const start = await browser.fetch(`${api.url}/auth/strava`);
    const authorize = new URL(start.headers.get('location')!);
    authorize.searchParams.set('athlete_id', String(athleteId));
    const consent = await browser.fetch(authorize);
    const done = await browser.fetch(consent.headers.get('location')!);
    expect(done.status).toBe(200);
    return (await done.json()) as { reconnected: boolean };
  }

  it('connects, falls into needs_reauth, queues events, and comes back to idle with them applied and a catch-up sync', async () => {
    await emulator.control.createAthlete({ id: athleteId, activities: 6 });
    expect(await connectThroughOAuth()).toMatchObject({ reconnected: false });
    await waitFor(status, (s) => s.workflow.live?.state === 'idle' && s.workflow.live.import.done === true, { timeoutMs: 30_000, what: 'the import' });
    await expectConverged(db.sql, emulator, athleteId);

    // The stored authorization is gone (a grant Strava refuses would be purged instead, as a revocation).
    await db.sql`delete from tokens where athlete_id = ${athleteId}`;
    const sync = await api.fetch(`/athletes/${athleteId}/sync`, { method: 'POST', admin: true });
    expect(sync.status).toBe(409);
    await waitFor(status, (s) => s.workflow.live?.state === 'needs_reauth', { timeoutMs: 20_000, what: 'needs_reauth' });
    expect((await getAthlete(db.sql, athleteId))?.state).toBe('needs_reauth');

    // Meanwhile, at Strava: a new activity, a rename and a delete (each announced by a webhook), and one more new
    // activity whose webhook is lost.
    const stored = await storedActivities(db.sql, athleteId);
    const created = await emulator.control.createActivity(athleteId, { name: 'Ride while away' });
    await emulator.control.updateActivity(stored[0]!.id, { name: 'Renamed while away' });
    await emulator.control.deleteActivity(stored[1]!.id);
    await emulator.control.webhooksSettled();
    await emulator.control.setFaults({ webhookDropRate: 1 });
    const unannounced = await emulator.control.createActivity(athleteId, { name: 'Ride without a webhook' });
    await emulator.control.webhooksSettled();
    await emulator.control.setFaults({ webhookDropRate: 0 });
    const waiting = await waitFor(status, (s) => (s.workflow.live?.pendingEvents ?? 0) >= 3, { timeoutMs: 20_000, what: 'the events to wait in the workflow' });
    const requestsWhileAway = waiting.workflow.live!.counters.requests;
    // A focus now changes nothing either: no Strava call until the athlete reconnects.
    expect((await api.fetch(`/athletes/${athleteId}/focus`, { method: 'POST', admin: true })).status).toBe(202);
    const still = await status();
    expect(still.workflow.live).toMatchObject({ state: 'needs_reauth', counters: { requests: requestsWhileAway } });
    expect(await storedActivities(db.sql, athleteId)).toEqual(stored);

    // The athlete connects again.
    const before = still.workflow.live!.counters;
    expect(await connectThroughOAuth()).toMatchObject({ reconnected: true });
    const back = await waitFor(status, (s) => s.workflow.live?.state === 'idle' && s.workflow.live.pendingEvents === 0 && s.workflow.live.counters.quickSyncs > before.quickSyncs, {
      timeoutMs: 30_000,
      what: 'idle again, events applied, catch-up sync done',
    });
    expect(back.workflow.live!.counters.eventsHandled).toBeGreaterThanOrEqual(before.eventsHandled + 3);
    await expectConverged(db.sql, emulator, athleteId);
    const rows = await storedActivities(db.sql, athleteId);
    expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining([created.id, unannounced.id]));
    expect(rows.find((r) => r.id === stored[0]!.id)?.name).toBe('Renamed while away');
    expect(rows.some((r) => r.id === stored[1]!.id)).toBe(false);
    expect((await getAthlete(db.sql, athleteId))?.state).toBe('idle');
  });
});
