import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, uniqueTaskQueue, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';
import { startRecordingWorker } from './webhooks-fixtures/harness.js';

const db = useTestDatabase();

/** The periodic check's interval here (production: 1 h) and the page's cache (production: a minute). */
const CHECK_INTERVAL_MS = 2_000;
const LOOK_MAX_AGE_MS = 1_500;

interface Health {
  exists: boolean | null;
  subscriptionId: number | null;
  matchesThisDeployment: boolean | null;
  recordedSubscriptionId: number | null;
  healthy: boolean;
  lastWebhookAt: string | null;
  checkedAt: string;
}

describe('subscription health: the overview, the gauges and the periodic check', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let second: ApiHarness;
  let worker: { stop(): Promise<void> };

  const overview = async (harness = api) => ((await (await harness.fetch('/admin/overview', { admin: true })).json()) as { subscription: Health }).subscription;
  const metrics = async () => (await api.fetch('/metrics', { admin: true })).text();
  const gauge = (text: string, name: string): number | undefined => {
    const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
    return value === undefined ? undefined : value === '+Inf' ? Infinity : Number(value);
  };
  /** GET /push_subscriptions requests the emulator has answered so far. */
  const listRequests = async () => {
    const counters = await emulator.control.counters();
    return Object.values(counters.requests['GET /api/v3/push_subscriptions'] ?? {}).reduce((sum, n) => sum + n, 0);
  };

  beforeAll(async () => {
    dev = await connectDevServer();
    emulator = await startEmulator({ webhookRetryDelayMs: 100 });
    const taskQueue = uniqueTaskQueue('subscription-health');
    worker = await startRecordingWorker(dev.nativeConnection, taskQueue);
    const env = { TEMPORAL_TASK_QUEUE: taskQueue, SUBSCRIPTION_CHECK_INTERVAL: `${CHECK_INTERVAL_MS}ms` };
    const appOptions = { subscriptionLookMaxAgeMs: LOOK_MAX_AGE_MS };
    // relay: true starts the background jobs, the periodic subscription check among them.
    api = await startApi({ db, dev, emulator, env, appOptions, relay: true });
  });
  afterAll(async () => {
    await second?.stop();
    await api?.stop();
    await worker?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it('before any subscription: none at Strava, unhealthy, no webhook on record (+Inf age)', async () => {
    const health = await overview();
    expect(health).toMatchObject({ exists: false, subscriptionId: null, recordedSubscriptionId: null, healthy: false, lastWebhookAt: null });
    const text = await waitFor(metrics, (t) => gauge(t, 'strava_webhook_subscription_up') !== undefined, { what: 'the up gauge' });
    expect(gauge(text, 'strava_webhook_subscription_up')).toBe(0);
    expect(gauge(text, 'strava_webhook_last_received_age_seconds')).toBe(Infinity);
  });

  it('after POST /admin/subscription: healthy at once (the create expires the cached answer), gauge up', async () => {
    const created = await api.fetch('/admin/subscription', { method: 'POST', admin: true });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { subscription: { id: number } }).subscription.id;
    expect(await overview()).toMatchObject({ exists: true, subscriptionId: id, matchesThisDeployment: true, recordedSubscriptionId: id, healthy: true });
    expect(gauge(await metrics(), 'strava_webhook_subscription_up')).toBe(1);
  });

  it('the last genuine webhook: set by an event Strava delivers, not by a forged one with another subscription id', async () => {
    // An id of this run only: workflow ids (athlete-<id>) are shared by every test file on the dev server.
    const athlete = await emulator.control.createAthlete({ id: uniqueAthleteId(), activities: 0 });
    await emulator.control.issueTokens(athlete.id);
    await upsertConnectedAthlete(db.sql, athlete.id, ['read', 'activity:read_all']);
    await db.sql`insert into activities (id, athlete_id, name, sport_type, start_date, raw)
                 values (${athlete.id}, ${athlete.id}, 'x', 'Run', now() - interval '1 day', '{}')`;
    await emulator.control.createActivity(athlete.id);
    await waitFor(() => listEvents(db.sql, { ownerId: athlete.id }), (rows) => rows.length === 1, { what: 'the delivered event' });
    const health = await overview();
    expect(health.lastWebhookAt).not.toBeNull();
    const text = await metrics();
    expect(gauge(text, 'strava_webhook_last_received_age_seconds')).toBeLessThan(60);
    expect(gauge(text, 'strava_athletes_active')).toBe(1);

    // A forged event with another subscription id is ignored and moves nothing.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const forged = await api.fetch('/webhooks/strava', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ object_type: 'activity', object_id: 77, aspect_type: 'create', updates: {}, owner_id: athlete.id, subscription_id: 999_999, event_time: Math.floor(Date.now() / 1000) }),
    });
    expect(forged.status).toBe(200);
    const [ignored] = await db.sql<{ outcome: string }[]>`select outcome from webhook_events where object_id = 77`;
    expect(ignored?.outcome).toBe('ignored');
    expect((await overview()).lastWebhookAt).toBe(health.lastWebhookAt);
    expect(gauge(await metrics(), 'strava_webhook_last_received_age_seconds')).toBeGreaterThanOrEqual(1);
  });

  it('a subscription deleted at Strava: the periodic check notices it with no one looking, one request per check', async () => {
    const before = await listRequests();
    await emulator.control.deleteSubscription();
    // Only /metrics is read here, which never asks Strava.
    await waitFor(async () => gauge(await metrics(), 'strava_webhook_subscription_up'), (up) => up === 0, {
      timeoutMs: CHECK_INTERVAL_MS * 5,
      intervalMs: 200,
      what: 'the up gauge to fall to 0',
    });
    expect(api.logs.join('')).toContain('Strava no longer delivers webhooks here');
    // One list request per check: over a few intervals, about one per interval (never one per tick or per scrape).
    const start = await listRequests();
    const windowMs = CHECK_INTERVAL_MS * 3;
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const made = (await listRequests()) - start;
    expect(start - before).toBeGreaterThanOrEqual(1);
    expect(made).toBeGreaterThanOrEqual(1);
    expect(made).toBeLessThanOrEqual(4);
  });

  it('a second API instance shares the answer: still about one request per interval for the deployment', async () => {
    second = await startApi({
      db,
      dev,
      emulator,
      env: { TEMPORAL_TASK_QUEUE: api.config.TEMPORAL_TASK_QUEUE, SUBSCRIPTION_CHECK_INTERVAL: `${CHECK_INTERVAL_MS}ms` },
      relay: true,
    });
    const start = await listRequests();
    await new Promise((resolve) => setTimeout(resolve, CHECK_INTERVAL_MS * 3));
    const made = (await listRequests()) - start;
    expect(made).toBeGreaterThanOrEqual(1);
    expect(made).toBeLessThanOrEqual(4);
    expect(await overview(second)).toMatchObject({ exists: false, healthy: false });
  });

  it('whoever looks gets an answer at most LOOK_MAX_AGE old; looks within it share one request', async () => {
    await second.stop();
    // Only the page asks Strava from here on.
    await api.app.subscriptionHealth.stop();
    const created = await api.fetch('/admin/subscription', { method: 'POST', admin: true });
    expect(created.status).toBe(201);
    const start = await listRequests();
    const lookedAt = Date.now();
    expect(await overview()).toMatchObject({ exists: true, healthy: true });
    await emulator.control.deleteSubscription();
    const deletedAt = Date.now();
    const again = await overview();
    // Within the cache age the stored answer is served: no request, and so not the deletion yet.
    if (Date.now() - lookedAt < LOOK_MAX_AGE_MS - 300) {
      expect(again.exists).toBe(true);
      expect((await listRequests()) - start).toBe(1);
    }
    const seen = await waitFor(() => overview(), (h) => h.exists === false, { intervalMs: 100, what: 'the overview to see the deletion' });
    expect(Date.now() - deletedAt).toBeLessThan(LOOK_MAX_AGE_MS + 3_000);
    expect(seen.healthy).toBe(false);
    // Looks in quick succession inside the cache age share the answer.
    const before = await listRequests();
    await Promise.all([overview(), overview(), overview()]);
    await overview();
    expect((await listRequests()) - before).toBeLessThanOrEqual(1);
    expect(gauge(await metrics(), 'strava_webhook_subscription_up')).toBe(0);
  });
});
