import { createAthleteWorker } from '../../src/worker/create-worker.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities/index.js';
import { getAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { createStravaServices } from '../../src/strava/services.js';
import { athleteStartOptions, athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import type { AthleteSyncOptions } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from '../api/helpers/api-harness.js';
import { testBrowser } from '../api/helpers/browser.js';
import { useTestDatabase } from '../helpers/database.js';
import { emulatorConfig } from '../helpers/emulator-config.js';
import { connectDevServer, uniqueTaskQueue, workflowBundle, type DevServerHandles } from '../helpers/temporal.js';
import { clientFor, countOf } from '../strava/helpers.js';
import { expectConverged, storedActivities, truthActivities } from './helpers/ground-truth.js';
import { waitForStatus, type Handle } from './workflow-harness.js';

/**
 * Strava's variants (emulator faults and consent), met by the whole service: the real API on a real port with its
 * webhook route and relay, a worker with the real activities, the shared Temporal dev server, PostgreSQL, and the
 * emulator over HTTP delivering real webhooks. Each describe states what the service must do with one variant.
 */

const db = useTestDatabase();
const VARIANTS = ['athlete', 'application'] as const;

let dev: DevServerHandles;
let emulator: RunningEmulator;
let api: ApiHarness;
let worker: { stop(): Promise<void> };
let subscriptionId: number;
const handles: Handle[] = [];

beforeAll(async () => {
  [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 160, webhookRetryDelayMs: 200 })]);
  api = await startApi({ db, dev, emulator, relay: true });
  worker = await startWorker(api, dev, db.sql, emulator);
  const response = await api.fetch('/admin/subscription', { method: 'POST', admin: true });
  expect(response.status).toBe(201);
  subscriptionId = ((await response.json()) as { subscription: { id: number } }).subscription.id;
});
afterAll(async () => {
  for (const handle of handles) await handle.terminate('test done').catch(() => {});
  await worker?.stop();
  await api?.stop();
  await emulator?.close();
  await dev?.close();
});

/**
 * An athlete connected with tokens from the emulator and their workflow started on the API's task queue;
 * resolves once the history import is done.
 */
async function connected(activities: number, options: { sync?: Partial<AthleteSyncOptions> } = {}) {
  const athleteId = uniqueAthleteId();
  await emulator.control.createAthlete({ id: athleteId, activities });
  const issued = await emulator.control.issueTokens(athleteId);
  await upsertConnectedAthlete(db.sql, athleteId, issued.scope.split(','));
  await api.strava.vault.store(athleteId, issued);
  const handle = await dev.client.workflow.start(athleteSync, athleteStartOptions(api.config, athleteId, { backfillJitter: 0, ...options.sync }));
  handles.push(handle);
  await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 40_000);
  return { athleteId, handle, issued };
}

const stateOf = async (athleteId: number) => (await getAthlete(db.sql, athleteId))?.state;
const tokenRows = async (athleteId: number) => (await db.sql`select 1 from tokens where athlete_id = ${athleteId}`).count;
const stored = async (athleteId: number, activityId: number) => (await storedActivities(db.sql, athleteId)).find((r) => r.id === activityId);
const served = async (endpoint: string, status: number) => countOf(await emulator.control.counters(), endpoint, status);
const syncNow = (athleteId: number) => api.fetch(`/athletes/${athleteId}/sync`, { method: 'POST', admin: true });

async function postEvent(event: Record<string, unknown>): Promise<Response> {
  return fetch(`${api.url}/webhooks/strava`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
}

async function withFaults<T>(faults: Parameters<RunningEmulator['control']['setFaults']>[0], reset: Parameters<RunningEmulator['control']['setFaults']>[0], fn: () => Promise<T>): Promise<T> {
  await emulator.control.setFaults(faults);
  try {
    return await fn();
  } finally {
    await emulator.control.setFaults(reset);
  }
}

describe('/oauth/deauthorize is counted by the rate governor', () => {
  it("a disconnect brings the governor to Strava's count, including quota spent elsewhere", async () => {
    const { athleteId } = await connected(12);
    // Someone else spends the application's quota (a script with the same app): only headers can tell.
    const outsider = await emulator.control.createAthlete({ activities: 1 });
    const outsiderTokens = await emulator.control.issueTokens(outsider.id);
    for (let i = 0; i < 5; i++) await clientFor(emulator).getAthlete(outsiderTokens.accessToken);
    const before = await api.strava.governor.snapshot();
    expect(before.day.used).toBeLessThanOrEqual((await emulator.control.rateLimits()).usage.daily.read - 5);

    expect((await api.fetch(`/athletes/${athleteId}`, { method: 'DELETE', admin: true })).status).toBe(202);
    await waitFor(() => stateOf(athleteId), (state) => state === 'revoked', { timeoutMs: 30_000, what: 'the disconnect' });

    expect(await served('POST /oauth/deauthorize', 200)).toBe(1);
    // A request the governor has granted may still be on its way to Strava: compare once none is in flight.
    const counts = async () => ({ governor: (await api.strava.governor.snapshot()).day.used, strava: (await emulator.control.rateLimits()).usage.daily.read });
    const agreed = await waitFor(counts, (c) => c.governor === c.strava, { timeoutMs: 10_000, what: "the governor at Strava's count" });
    const after = await api.strava.governor.snapshot();
    expect(agreed.governor).toBe(agreed.strava);
    expect(after.day.used).toBeGreaterThanOrEqual(before.day.used + 6);
    expect(after.usedByPriority.realtime).toBe(before.usedByPriority.realtime + 1);
  });
});

describe('consent narrower than asked: "private activities" unticked', () => {
  it('through the real OAuth callback: no Only You activity stored; privacy flips remove and bring back', async () => {
    const athleteId = uniqueAthleteId();
    await emulator.control.createAthlete({ id: athleteId, activities: 40 });
    // Recent ones, so that a quick sync (the last sync minus a week) lists them.
    const a = await emulator.control.createActivity(athleteId, { name: 'Flipped by Strava events' });
    const b = await emulator.control.createActivity(athleteId, { name: 'Flipped behind our back' });
    const hidden = await emulator.control.createActivity(athleteId, { name: 'Only me from the start', visibility: 'only_me' });

    const browser = testBrowser();
    const start = await browser.fetch(`${api.url}/auth/strava`);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.searchParams.get('scope')).toBe('read,activity:read_all');
    authorize.searchParams.set('athlete_id', String(athleteId));
    authorize.searchParams.set('grant_scope', 'read,activity:read');
    const callback = new URL((await browser.fetch(authorize)).headers.get('location')!);
    expect(callback.searchParams.get('scope')).toBe('read,activity:read');
    const done = await browser.fetch(callback);
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ athleteId, scopes: ['read', 'activity:read'] });
    const handle = dev.client.workflow.getHandle(athleteWorkflowId(athleteId)) as Handle;
    handles.push(handle);
    await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 40_000);

    await expectConverged(db.sql, emulator, athleteId);
    expect((await storedActivities(db.sql, athleteId)).filter((r) => r.private)).toEqual([]);
    expect(await stored(athleteId, hidden.id)).toBeUndefined();

    // Made "Only You": Strava tells an activity:read app with a delete event.
    await emulator.control.updateActivity(a.id, { visibility: 'only_me' });
    await waitFor(() => stored(athleteId, a.id), (row) => row === undefined, { timeoutMs: 20_000, what: 'the flip to only_me' });
    // Visible again: a create event brings it back.
    await emulator.control.updateActivity(a.id, { visibility: 'everyone' });
    await waitFor(() => stored(athleteId, a.id), (row) => row?.private === false, { timeoutMs: 20_000, what: 'the flip back' });
    const flips = (await emulator.control.webhookLog()).filter((d) => d.event.object_id === a.id).map((d) => d.event.aspect_type);
    expect(flips).toEqual(['delete', 'create']);

    // An update with private "true" (the event an activity:read_all app gets) removes it too: the fetch 404s.
    await withFaults({ webhookDropRate: 1 }, { webhookDropRate: 0 }, () => emulator.control.updateActivity(b.id, { visibility: 'only_me' }));
    const response = await postEvent({
      object_type: 'activity', object_id: b.id, aspect_type: 'update', updates: { private: 'true' },
      owner_id: athleteId, subscription_id: subscriptionId, event_time: Math.floor(emulator.now() / 1000),
    });
    expect(response.status).toBe(200);
    await waitFor(() => stored(athleteId, b.id), (row) => row === undefined, { timeoutMs: 20_000, what: 'the private update to remove it' });

    // Visible again with the create event lost: the next list brings it back.
    await withFaults({ webhookDropRate: 1 }, { webhookDropRate: 0 }, () => emulator.control.updateActivity(b.id, { visibility: 'everyone' }));
    const sync = await syncNow(athleteId);
    expect(sync.status).toBe(200);
    expect(((await sync.json()) as { result: { added: number } }).result.added).toBe(1);
    expect((await stored(athleteId, b.id))?.private).toBe(false);

    // A new "Only You" activity: no event, and no list shows it.
    await emulator.control.createActivity(athleteId, { name: 'Only me, new', visibility: 'only_me' });
    expect((await syncNow(athleteId)).status).toBe(200);
    await expectConverged(db.sql, emulator, athleteId);
    expect((await storedActivities(db.sql, athleteId)).filter((r) => r.private)).toEqual([]);
  }, 120_000);
});

describe('webhook events without an `updates` key', () => {
  it('create and delete events sent without `updates` are answered 200 and applied', async () => {
    const { athleteId } = await connected(10);
    const [victim] = await truthActivities(emulator, athleteId);
    const created = await withFaults({ webhookOmitEmptyUpdates: true }, { webhookOmitEmptyUpdates: false }, async () => {
      const activity = await emulator.control.createActivity(athleteId, { name: 'Sent without updates' });
      await emulator.control.deleteActivity(victim!.id);
      await emulator.control.webhooksSettled();
      return activity;
    });

    const deliveries = (await emulator.control.webhookLog()).filter((d) => d.event.owner_id === athleteId);
    expect(deliveries.map((d) => d.event.aspect_type).sort()).toEqual(['create', 'delete']);
    for (const delivery of deliveries) {
      expect(Object.keys(delivery.event)).not.toContain('updates');
      expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([200]);
    }
    await expectConverged(db.sql, emulator, athleteId, 20_000);
    expect((await stored(athleteId, created.id))?.name).toBe('Sent without updates');
    expect(await stored(athleteId, victim!.id)).toBeUndefined();
    const inbox = await listEvents(db.sql, { ownerId: athleteId });
    expect(inbox.map((e) => [e.aspectType, e.updates])).toEqual(expect.arrayContaining([['create', {}], ['delete', {}]]));
  });
});

describe('404 with an empty body', () => {
  it('an activity still processing is fetched again until Strava shows it; a delete confirmed by the 404 removes the row', async () => {
    const { athleteId, handle } = await connected(10, { sync: { notFoundRetryDelaysMs: [1_500, 3_000, 5_000] } });
    const [victim] = await truthActivities(emulator, athleteId);
    await withFaults({ notFoundEmptyBody: true }, { notFoundEmptyBody: false }, async () => {
      const before = await served('GET /api/v3/activities/{id}', 404);
      const slow = await emulator.control.createActivity(athleteId, { name: 'Still processing' }, { processingMs: 2_500 });
      await emulator.control.deleteActivity(victim!.id);
      await waitFor(() => stored(athleteId, slow.id), (row) => row !== undefined, { timeoutMs: 30_000, what: 'the processed activity' });
      await waitFor(() => stored(athleteId, victim!.id), (row) => row === undefined, { timeoutMs: 20_000, what: 'the confirmed delete' });
      // The first fetch of the new activity and the delete's confirmation both met the empty 404.
      expect(await served('GET /api/v3/activities/{id}', 404)).toBeGreaterThanOrEqual(before + 2);
    });
    const status = await waitForStatus(handle, (s) => s.pendingNotFoundRetries === 0 && s.state === 'idle');
    expect(status.counters.notFoundGaveUp).toBe(0);
    await expectConverged(db.sql, emulator, athleteId);
  }, 120_000);

  it('an activity that stays 404 through every retry is given up without a row; sync now finds it once Strava shows it', async () => {
    const { athleteId, handle } = await connected(5, { sync: { notFoundRetryDelaysMs: [500, 1_000] } });
    const slow = await withFaults({ notFoundEmptyBody: true }, { notFoundEmptyBody: false }, async () => {
      const activity = await emulator.control.createActivity(athleteId, { name: 'Very slow upload' }, { processingMs: 15_000 });
      await waitForStatus(handle, (s) => s.counters.notFoundGaveUp === 1 && s.pendingNotFoundRetries === 0, 20_000);
      return activity;
    });
    expect(await stored(athleteId, slow.id)).toBeUndefined();
    await waitFor(async () => (await emulator.control.groundTruth(athleteId)).some((a) => a.id === slow.id), Boolean, {
      timeoutMs: 30_000,
      what: 'Strava to show the activity',
    });
    expect((await syncNow(athleteId)).status).toBe(200);
    expect((await stored(athleteId, slow.id))?.name).toBe('Very slow upload');
  }, 120_000);
});

describe("401 variants: the athlete's refresh token decides, not the body", () => {
  it.each(VARIANTS)('%s variant: a revocation at Strava purges the athlete', async (variant) => {
    const { athleteId, handle } = await connected(6);
    await withFaults({ unauthorizedVariant: variant }, { unauthorizedVariant: 'athlete' }, async () => {
      expect(await emulator.control.revokeAthlete(athleteId)).toBe(true);
      await waitFor(() => stateOf(athleteId), (state) => state === 'revoked', { timeoutMs: 30_000, what: 'the purge' });
    });
    expect(await storedActivities(db.sql, athleteId)).toEqual([]);
    expect(await tokenRows(athleteId)).toBe(0);
    await waitFor(async () => (await handle.describe()).status.name, (name) => name === 'COMPLETED', { timeoutMs: 10_000, what: 'the workflow to end' });
  });

  it.each(VARIANTS)('%s variant: a revocation whose webhook was lost is found by the next call and purged like a confirmed one', async (variant) => {
    const { athleteId, handle } = await connected(6);
    await withFaults({ unauthorizedVariant: variant }, { unauthorizedVariant: 'athlete' }, async () => {
      await withFaults({ webhookDropRate: 1 }, { webhookDropRate: 0 }, () => emulator.control.revokeAthlete(athleteId));
      const sync = await syncNow(athleteId);
      expect(sync.status).toBe(409);
      expect(((await sync.json()) as { error: { code: string } }).error.code).toBe('sync_failed');
    });
    // Strava refusing the refresh token itself vouches for the revocation: the data goes as for a deauthorization
    // webhook (patch purge-revoked-grant), the workflow ends.
    await waitFor(async () => (await handle.describe()).status.name, (name) => name === 'COMPLETED', { timeoutMs: 20_000, what: 'the workflow to end' });
    expect(await stateOf(athleteId)).toBe('revoked');
    expect(await tokenRows(athleteId)).toBe(0);
    expect(await storedActivities(db.sql, athleteId)).toEqual([]);
  });

  it.each(VARIANTS)('%s variant: an access token Strava no longer accepts is replaced on the way; the event is applied, the athlete stays idle', async (variant) => {
    const { athleteId, handle, issued } = await connected(5);
    // The stored access token is not one Strava knows, though its recorded expiry is hours away.
    await api.strava.vault.store(athleteId, { ...issued, accessToken: '0'.repeat(40) });
    await withFaults({ unauthorizedVariant: variant }, { unauthorizedVariant: 'athlete' }, async () => {
      const before = await served('GET /api/v3/activities/{id}', 401);
      const created = await emulator.control.createActivity(athleteId, { name: 'After a dropped token' });
      await waitFor(() => stored(athleteId, created.id), (row) => row !== undefined, { timeoutMs: 20_000, what: 'the create event' });
      expect(await served('GET /api/v3/activities/{id}', 401)).toBe(before + 1);
    });
    const status = await waitForStatus(handle, (s) => s.state === 'idle');
    expect(status.lastError).toBeNull();
    await waitFor(() => stateOf(athleteId), (state) => state === 'idle', { timeoutMs: 10_000, what: 'athletes.state idle' });
    expect(await tokenRows(athleteId)).toBe(1);
  });
});

describe("Strava refuses the application's credentials (Application//invalid from /oauth/token)", () => {
  it('the athlete is paused, never needs_reauth or purged; once the secret is fixed the held event is applied', async () => {
    const taskQueue = uniqueTaskQueue('variants-secret');
    const configured = (secret: string) => emulatorConfig(emulator, db.url, { TEMPORAL_TASK_QUEUE: taskQueue, STRAVA_CLIENT_SECRET: secret });
    const startOn = async (secret: string) => {
      const services = createStravaServices(configured(secret), db.sql, { now: () => emulator.now() });
      const w = await createAthleteWorker({
        connection: dev.nativeConnection,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities: createActivities({ sql: db.sql, strava: services.athleteStrava, now: () => emulator.now() }),
      });
      const running = w.run();
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        w.shutdown();
        await running;
      };
      return { services, stop };
    };
    // Rotated at Strava, not yet in this service's environment. The API answers an access token without looking at
    // the client secret, so only a refresh shows it.
    const misconfigured = await startOn('a-rotated-client-secret');
    let fixed: Awaited<ReturnType<typeof startOn>> | undefined;
    try {
      const athleteId = uniqueAthleteId();
      await emulator.control.createAthlete({ id: athleteId, activities: 7 });
      const issued = await emulator.control.issueTokens(athleteId);
      await upsertConnectedAthlete(db.sql, athleteId, issued.scope.split(','));
      await misconfigured.services.vault.store(athleteId, issued);
      const handle = await dev.client.workflow.start(
        athleteSync,
        athleteStartOptions(configured('a-rotated-client-secret'), athleteId, { backfillJitter: 0, pausedRetryMs: 3_000, pausedMaxMs: 3_000 }),
      );
      handles.push(handle);
      await waitForStatus(handle, (s) => s.import.done && s.state === 'idle', 40_000);

      await withFaults({ unauthorizedVariant: 'application' }, { unauthorizedVariant: 'athlete' }, async () => {
        // The access token is about to expire: the next call needs a refresh, which Strava refuses with the 401.
        await db.sql`update tokens set expires_at = ${new Date(emulator.now() + 30_000)} where athlete_id = ${athleteId}`;
        const refused = await served('POST /oauth/token', 401);
        const created = await emulator.control.createActivity(athleteId, { name: 'Held while the app is refused' });
        const paused = await waitForStatus(handle, (s) => s.state === 'paused', 20_000);
        expect(paused.lastError?.type).toBe('AppForbidden');
        expect(await served('POST /oauth/token', 401)).toBeGreaterThan(refused);
        await waitFor(() => stateOf(athleteId), (state) => state === 'paused', { timeoutMs: 10_000, what: 'athletes.state paused' });
        expect(await tokenRows(athleteId)).toBe(1);
        expect(await storedActivities(db.sql, athleteId)).toHaveLength(7);
        expect(await stored(athleteId, created.id)).toBeUndefined();

        // The operator deploys the right secret.
        await misconfigured.stop();
        fixed = await startOn(emulator.clientSecret);
        await waitFor(() => stored(athleteId, created.id), (row) => row !== undefined, { timeoutMs: 30_000, what: 'the held event' });
      });
      await waitForStatus(handle, (s) => s.state === 'idle');
      // The workflow shows a state before its activity has written it to athletes.state.
      await waitFor(() => stateOf(athleteId), (state) => state === 'idle', { timeoutMs: 10_000, what: 'athletes.state idle' });
      await expectConverged(db.sql, emulator, athleteId);
    } finally {
      await misconfigured.stop();
      await fixed?.stop();
    }
  }, 120_000);
});

describe('changes no webhook announces, on older activities', () => {
  it("a visibility change between everyone and followers on a 20-day-old activity reaches the database at the next list, and is not counted as a lost webhook", async () => {
    const { athleteId } = await connected(3);
    const old = await emulator.control.createActivity(athleteId, {
      name: 'Three weeks ago',
      start_date: new Date(emulator.now() - 20 * 86_400_000).toISOString(),
    });
    // A late upload with an old start date: its create webhook brings it in.
    await waitFor(() => stored(athleteId, old.id), (row) => row !== undefined, { timeoutMs: 20_000, what: 'the older activity' });
    const before = await db.sql<{ changes: number }[]>`select coalesce(sum(changes), 0)::int as changes from sync_runs where athlete_id = ${athleteId} and trigger = 'manual'`;

    // Strava sends no webhook for this change; only a list inside BACKFILL_OVERLAP (30 days by default) sees it.
    await emulator.control.updateActivity(old.id, { visibility: 'followers_only' });
    expect((await emulator.control.webhookLog()).filter((d) => d.event.object_id === old.id && d.event.aspect_type === 'update')).toEqual([]);
    expect((await syncNow(athleteId)).status).toBe(200);
    const visibility = async () => (await db.sql<{ visibility: string }[]>`select visibility from activities where id = ${old.id}`)[0]?.visibility;
    await waitFor(visibility, (v) => v === 'followers_only', { timeoutMs: 20_000, what: 'the visibility change' });
    const after = await db.sql<{ changes: number }[]>`select coalesce(sum(changes), 0)::int as changes from sync_runs where athlete_id = ${athleteId} and trigger = 'manual'`;
    expect(after[0]!.changes).toBe(before[0]!.changes);
  });
});
