import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptionService } from '../../src/api/subscription/service.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { getStoredSubscription } from '../../src/db/repositories/webhook-subscription.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { createStravaClient } from '../../src/strava/client.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, uniqueTaskQueue, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, type ApiHarness } from './helpers/api-harness.js';
import { receivedEvents, startRecordingWorker, testConfig, waitFor } from './webhooks-fixtures/harness.js';

const db = useTestDatabase();
const CLI = fileURLToPath(new URL('../../bin/strava-sync.js', import.meta.url));
const KEY = 'subscription-test-admin-key';

describe('/admin/subscription and `strava-sync subscription`', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  let env: Record<string, string>;
  const admin = (method: string, path = '/admin/subscription', key: string | null = KEY) =>
    fetch(`${api.url}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as any,
    }));

  beforeAll(async () => {
    dev = await connectDevServer();
    emulator = await startEmulator({ webhookRetryDelayMs: 100 });
    const taskQueue = uniqueTaskQueue('subscription');
    env = {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: dev.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
      ADMIN_API_KEY: KEY,
    };
    worker = await startRecordingWorker(dev.nativeConnection, taskQueue);
    api = await startApi({ db, dev, emulator, env: { ADMIN_API_KEY: KEY, TEMPORAL_TASK_QUEUE: taskQueue }, relay: true });
  });
  afterAll(async () => {
    await api?.stop();
    await worker?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it('refuses every method without the admin key', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const missing = await admin(method, undefined, null);
      expect(missing.status).toBe(401);
      expect(missing.body.error.code).toBe('unauthorized');
      expect((await admin(method, undefined, 'wrong-key-123')).status).toBe(401);
    }
  });

  it('views "no subscription" before one is created', async () => {
    const view = await admin('GET');
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ callbackUrl: `${api.url}/webhooks/strava`, subscription: null, recordedSubscriptionId: null });
    expect(view.body.message).toMatch(/No push subscription/);
  });

  it('creates the subscription through Strava\'s handshake, records it, and receives events on it', async () => {
    const created = await admin('POST');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ created: true, replacedSubscriptionId: null, subscription: { callbackUrl: `${api.url}/webhooks/strava`, matchesThisDeployment: true } });
    const id = created.body.subscription.id as number;
    expect((await getStoredSubscription(db.sql))?.subscriptionId).toBe(id);

    const view = await admin('GET');
    expect(view.body).toMatchObject({ subscription: { id, matchesThisDeployment: true }, recordedSubscriptionId: id });

    // Creating again is idempotent.
    const again = await admin('POST');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: false, subscription: { id } });

    // The emulator now pushes events to the API: a new activity of a connected athlete reaches its workflow.
    const athlete = await emulator.control.createAthlete({ activities: 0 });
    // Strava only sends events for athletes who authorized the application.
    await emulator.control.issueTokens(athlete.id);
    await upsertConnectedAthlete(db.sql, athlete.id, ['read', 'activity:read_all']);
    const activity = await emulator.control.createActivity(athlete.id);
    const rows = await waitFor(() => listEvents(db.sql, { ownerId: athlete.id }), (r) => r[0]?.outcome === 'forwarded');
    expect(rows).toMatchObject([{ objectId: activity.id, aspectType: 'create', subscriptionId: id, outcome: 'forwarded' }]);
    const received = await waitFor(() => receivedEvents(dev.client, athlete.id), (e) => e.length > 0);
    expect(received).toMatchObject([{ objectId: activity.id, aspectType: 'create', ownerId: athlete.id }]);
  });

  it('says so when a subscription with another callback exists, and replaces it on request', async () => {
    const strava = createStravaClient({ apiUrl: emulator.apiUrl, oauthUrl: emulator.oauthUrl, clientId: emulator.clientId, clientSecret: emulator.clientSecret, timeoutMs: 5_000 });
    const [ours] = await strava.listPushSubscriptions();
    await strava.deletePushSubscription(ours!.id);
    // A different callback URL that still answers the handshake (the query string makes it another URL).
    const foreign = await strava.createPushSubscription({ callbackUrl: `${api.url}/webhooks/strava?deployment=old`, verifyToken: 'dev-verify-token' });

    const view = await admin('GET');
    expect(view.body.subscription).toMatchObject({ id: foreign.id, matchesThisDeployment: false });
    expect(view.body.message).toContain('replace=true');

    const refused = await admin('POST');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('subscription_exists');
    expect(refused.body.error.message).toContain(`${api.url}/webhooks/strava?deployment=old`);
    expect(refused.body.error.message).toContain('?replace=true');
    expect((await strava.listPushSubscriptions()).map((s) => s.id)).toEqual([foreign.id]);

    const bad = await admin('POST', '/admin/subscription?replace=maybe');
    expect(bad.status).toBe(400);

    const replaced = await admin('POST', '/admin/subscription?replace=true');
    expect(replaced.status).toBe(201);
    expect(replaced.body).toMatchObject({ created: true, replacedSubscriptionId: foreign.id, subscription: { callbackUrl: `${api.url}/webhooks/strava` } });
    expect((await getStoredSubscription(db.sql))?.subscriptionId).toBe(replaced.body.subscription.id);
  });

  it('deletes the subscription, then answers 404 for a second delete', async () => {
    const deleted = await admin('DELETE');
    expect(deleted.status).toBe(200);
    expect(deleted.body.deletedSubscriptionId).toBeGreaterThan(0);
    expect(await getStoredSubscription(db.sql)).toBeUndefined();
    expect((await admin('GET')).body.subscription).toBeNull();
    const second = await admin('DELETE');
    expect(second.status).toBe(404);
    expect(second.body.error.code).toBe('no_subscription');
  });

  it('explains a failed handshake (PUBLIC_URL not reaching this API) with 502', async () => {
    const config = testConfig({ ...env, PUBLIC_URL: 'http://127.0.0.1:9' });
    const strava = createStravaClient({ apiUrl: emulator.apiUrl, oauthUrl: emulator.oauthUrl, clientId: emulator.clientId, clientSecret: emulator.clientSecret, timeoutMs: 5_000 });
    const service = createSubscriptionService({ strava, sql: db.sql, config });
    await expect(service.create()).rejects.toMatchObject({ status: 502, code: 'handshake_failed', message: expect.stringContaining('PUBLIC_URL') });
    expect(await getStoredSubscription(db.sql)).toBeUndefined();
  });

  it('runs as `strava-sync subscription create|view|delete`', async () => {
    const run = promisify(execFile);
    const childEnv = { ...process.env, ...env, PUBLIC_URL: api.url, LOG_LEVEL: 'silent', NODE_ENV: 'test' };
    const created = await run(process.execPath, [CLI, 'subscription', 'create'], { env: childEnv });
    expect(created.stdout).toMatch(/^created subscription \d+ -> http:\/\/127\.0\.0\.1:\d+\/webhooks\/strava/);
    const viewed = JSON.parse((await run(process.execPath, [CLI, 'subscription', 'view', '--json'], { env: childEnv })).stdout);
    expect(viewed.subscription.matchesThisDeployment).toBe(true);
    expect(viewed.recordedSubscriptionId).toBe(viewed.subscription.id);
    const deleted = await run(process.execPath, [CLI, 'subscription', 'delete'], { env: childEnv });
    expect(deleted.stdout.trim()).toBe(`deleted subscription ${viewed.subscription.id}`);
    await expect(run(process.execPath, [CLI, 'subscription', 'delete'], { env: childEnv })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no push subscription'),
    });
  });
});
