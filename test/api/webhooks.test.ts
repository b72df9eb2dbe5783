import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertConnectedAthlete, purgeAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome, listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { storeSubscription, clearStoredSubscription } from '../../src/db/repositories/webhook-subscription.js';
import { createWebhookIngestion, toEventSignal, toInboxInput, webhookEventSchema, type WebhookIngestion } from '../../src/api/webhooks/index.js';
import { titleDigest } from '../../src/api/webhooks/event-schema.js';
import { AthleteGateway } from '../../src/temporal/athlete-gateway.js';
import { webhookEventsIgnored } from '../../src/api/webhooks/metrics.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, uniqueTaskQueue, type DevServerHandles } from '../helpers/temporal.js';
import {
  event, forwardMarker, listen, postJson, receivedEvents, startRecordingWorker, testConfig, uniqueAthleteIds, waitFor,
} from './webhooks-fixtures/harness.js';

const db = useTestDatabase();
const PATH_TOKEN = 'path-token-0123456789abcdef';

describe('POST/GET /webhooks/strava', () => {
  let dev: DevServerHandles;
  let ingestion: WebhookIngestion;
  let api: Awaited<ReturnType<typeof listen>>;
  let worker: { stop(): Promise<void> };
  const [connected, stranger, revoked, second] = uniqueAthleteIds(4) as [number, number, number, number];

  beforeAll(async () => {
    dev = await connectDevServer();
    const taskQueue = uniqueTaskQueue('webhooks');
    const config = testConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: dev.address, TEMPORAL_TASK_QUEUE: taskQueue });
    worker = await startRecordingWorker(dev.nativeConnection, taskQueue);
    ingestion = createWebhookIngestion({ config, sql: db.sql, workflows: new AthleteGateway(dev.client, config), relay: { idlePollMs: 200 } });
    ingestion.relay.start();
    api = await listen(ingestion.router);
    await upsertConnectedAthlete(db.sql, connected, ['read', 'activity:read_all']);
    await upsertConnectedAthlete(db.sql, second, ['read', 'activity:read_all']);
    await upsertConnectedAthlete(db.sql, revoked, ['read', 'activity:read_all']);
    await purgeAthlete(db.sql, revoked);
  });
  afterAll(async () => {
    await api?.close();
    await ingestion?.relay.stop();
    await worker?.stop();
    await dev?.close();
  });

  describe('subscription handshake', () => {
    const handshake = (query: string) => fetch(`${api.url}/webhooks/strava?${query}`);

    it('echoes the challenge for the right verify token', async () => {
      const response = await handshake('hub.mode=subscribe&hub.challenge=15f7d1a91c1f40f8a748fd134752feb3&hub.verify_token=dev-verify-token');
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ 'hub.challenge': '15f7d1a91c1f40f8a748fd134752feb3' });
    });

    it('refuses a wrong verify token with 403', async () => {
      const response = await handshake('hub.mode=subscribe&hub.challenge=abc&hub.verify_token=not-it');
      expect(response.status).toBe(403);
      expect(((await response.json()) as any).error.code).toBe('forbidden');
    });

    it.each([
      ['no parameters', ''],
      ['no challenge', 'hub.mode=subscribe&hub.verify_token=dev-verify-token'],
      ['no verify token', 'hub.mode=subscribe&hub.challenge=abc'],
      ['wrong mode', 'hub.mode=unsubscribe&hub.challenge=abc&hub.verify_token=dev-verify-token'],
      ['repeated parameter', 'hub.mode=subscribe&hub.challenge=a&hub.challenge=b&hub.verify_token=dev-verify-token'],
    ])('answers 400 for %s', async (_name, query) => {
      const response = await handshake(query);
      expect(response.status).toBe(400);
      expect(((await response.json()) as any).error).toMatchObject({ code: 'invalid_handshake', message: expect.any(String) });
    });
  });

  describe('malformed events', () => {
    const valid = { ...event({ owner_id: connected }), object_id: 999_000_001 };
    const cases: [string, unknown][] = [
      ['not JSON', '{"object_type": "activity",'],
      ['a JSON array', [valid]],
      ['a JSON string', '"hello"'],
      ['an empty object', {}],
      ['missing owner_id', { ...valid, owner_id: undefined }],
      ['missing subscription_id', { ...valid, subscription_id: undefined }],
      ['object_id as a string', { ...valid, object_id: '999000001' }],
      ['a negative owner_id', { ...valid, owner_id: -4 }],
      ['a fractional event_time', { ...valid, event_time: 1.5 }],
      ['an unknown object_type', { ...valid, object_type: 'segment' }],
      ['an unknown aspect_type', { ...valid, aspect_type: 'upsert' }],
      ['updates that are not an object', { ...valid, updates: 'title' }],
      ['updates.private that is not a boolean string', { ...valid, aspect_type: 'update', updates: { private: 'maybe' } }],
      ['a nested object inside updates', { ...valid, aspect_type: 'update', updates: { extra: { deep: 1 } } }],
      ['a NUL character in updates.title', { ...valid, aspect_type: 'update', updates: { title: 'a\u0000b' } }],
      ['a NUL character in an unknown updates key', { ...valid, aspect_type: 'update', updates: { note: '\u0000' } }],
      ['an unpaired surrogate in updates.type', { ...valid, aspect_type: 'update', updates: { type: 'Run\ud800' } }],
      ['a lone low surrogate in updates', { ...valid, aspect_type: 'update', updates: { note: '\udc00x' } }],
      ['an updates key outside [a-z_]', { ...valid, aspect_type: 'update', updates: { 'Title\u0000': 'x' } }],
      ['more than 8 updates keys', { ...valid, aspect_type: 'update', updates: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${'a'.repeat(i)}`, 1])) }],
    ];
    it.each(cases)('rejects %s with 400 and stores nothing', async (_name, body) => {
      const response = await postJson(`${api.url}/webhooks/strava`, body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toMatch(/^invalid_(json|event)$/);
      expect(response.body.error.message.length).toBeGreaterThan(10);
      expect(await listEvents(db.sql, { ownerId: connected })).toHaveLength(0);
    });

    it('rejects a body over 16 KB with 413 and stores nothing', async () => {
      const body = { ...valid, aspect_type: 'update', updates: { title: 'x'.repeat(17 * 1024) } };
      const response = await postJson(`${api.url}/webhooks/strava`, body);
      expect(response.status).toBe(413);
      expect(response.body.error.code).toBe('payload_too_large');
      expect(await listEvents(db.sql, { ownerId: connected })).toHaveLength(0);
    });

    it('rejects a 16 KB+ body sent without a content-length (chunked) with 413', async () => {
      const chunk = new TextEncoder().encode(JSON.stringify({ ...valid, pad: 'y'.repeat(20_000) }));
      const stream = new ReadableStream({ start(controller) { controller.enqueue(chunk); controller.close(); } });
      const response = await fetch(`${api.url}/webhooks/strava`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half',
      } as RequestInit);
      expect(response.status).toBe(413);
    });
  });

  describe('valid events', () => {
    it('records an event, answers 200 after the commit and forwards it to athlete-<owner_id>', async () => {
      const body = event({ owner_id: connected, object_id: 777_001, aspect_type: 'create', updates: {} });
      const response = await postJson(`${api.url}/webhooks/strava`, body);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'received' });
      // The 200 came after the commit: the row is there the moment the answer is.
      const [row] = await listEvents(db.sql, { ownerId: connected });
      expect(row).toMatchObject({ objectId: 777_001, aspectType: 'create' });
      const received = await waitFor(() => receivedEvents(dev.client, connected), (events) => events.length >= 1);
      // The signal carries the inbox row's receipt time (the sync history's receipt -> row latency starts there).
      expect(received).toEqual([
        { objectType: 'activity', objectId: 777_001, aspectType: 'create', ownerId: connected, eventTime: body.event_time, updatedFields: [], receivedAt: row!.receivedAt.getTime() },
      ]);
      const forwarded = await waitFor(() => listEvents(db.sql, { ownerId: connected }), (rows) => rows[0]?.outcome === 'forwarded');
      expect(forwarded[0]!.forwardedAt).toBeInstanceOf(Date);
    });

    it('accepts an event without `updates` and one with `updates: null`', async () => {
      const withoutUpdates = { ...event({ owner_id: second, object_id: 777_002, aspect_type: 'delete' }) } as Record<string, unknown>;
      delete withoutUpdates.updates;
      expect((await postJson(`${api.url}/webhooks/strava`, withoutUpdates)).status).toBe(200);
      expect((await postJson(`${api.url}/webhooks/strava`, { ...event({ owner_id: second, object_id: 777_003 }), updates: null })).status).toBe(200);
      const received = await waitFor(() => receivedEvents(dev.client, second), (events) => events.length >= 2);
      expect(received.map((e) => [e.objectId, e.aspectType, e.updatedFields])).toEqual([
        [777_002, 'delete', []],
        [777_003, 'create', []],
      ]);
    });

    it('stores a duplicate once and forwards it once', async () => {
      const body = event({ owner_id: connected, object_id: 777_010, aspect_type: 'create' });
      const answers = await Promise.all([1, 2, 3].map(() => postJson(`${api.url}/webhooks/strava`, body)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      // Recorded and duplicate are answered alike (the answer never tells a sender what became of its event).
      expect(answers.map((a) => a.body)).toEqual(Array(3).fill({ status: 'received' }));
      expect((await postJson(`${api.url}/webhooks/strava`, body)).body).toEqual({ status: 'received' });
      const rows = (await listEvents(db.sql, { ownerId: connected })).filter((r) => r.objectId === 777_010);
      expect(rows).toHaveLength(1);
      const received = await waitFor(() => receivedEvents(dev.client, connected), (events) => events.some((e) => e.objectId === 777_010));
      // A later event reaching the workflow proves the relay went past the duplicates: any second copy is in by now.
      await forwardMarker((body) => postJson(`${api.url}/webhooks/strava`, body), dev.client, connected);
      const again = await receivedEvents(dev.client, connected);
      expect(again.filter((e) => e.objectId === 777_010)).toHaveLength(1);
      expect(received.length).toBeGreaterThan(0);
    });

    it('keeps two different renames of one activity in the same second apart, and still collapses a retry', async () => {
      const rename = (title: string) => event({ owner_id: connected, object_id: 777_060, aspect_type: 'update', updates: { title }, event_time: 1_700_000_600 });
      for (const body of [rename('Auto-named ride'), rename('Commute home'), rename('Commute home')]) {
        expect((await postJson(`${api.url}/webhooks/strava`, body)).status).toBe(200);
      }
      const rows = (await listEvents(db.sql, { ownerId: connected })).filter((r) => r.objectId === 777_060);
      expect(rows).toHaveLength(2);
      expect(JSON.stringify(rows.map((r) => r.updates))).not.toMatch(/Auto-named|Commute/);
      const received = await waitFor(
        () => receivedEvents(dev.client, connected),
        (events) => events.filter((e) => e.objectId === 777_060).length >= 2,
      );
      const renames = received.filter((e) => e.objectId === 777_060);
      // Both reach the workflow as different events (its dedupe key includes the digest), and no title travels.
      expect(new Set(renames.map((e) => e.updatesDigest)).size).toBe(2);
      expect(JSON.stringify(renames)).not.toMatch(/Auto-named|Commute/);
    });

    it('clamps a future event_time to the time of receipt and keeps the sent one as identity', async () => {
      const sentTime = 4_000_000_000; // 2096
      const body = event({ owner_id: connected, object_id: 777_050, aspect_type: 'update', updates: { type: 'Ride' }, event_time: sentTime });
      const before = Math.floor(Date.now() / 1000);
      expect((await postJson(`${api.url}/webhooks/strava`, body)).status).toBe(200);
      const after = Math.floor(Date.now() / 1000);
      const received = await waitFor(() => receivedEvents(dev.client, connected), (events) => events.some((e) => e.objectId === 777_050));
      const signalTime = received.find((e) => e.objectId === 777_050)!.eventTime;
      expect(signalTime).toBeGreaterThanOrEqual(before);
      expect(signalTime).toBeLessThanOrEqual(after);
      const [row] = (await listEvents(db.sql, { ownerId: connected })).filter((r) => r.objectId === 777_050);
      expect(row).toMatchObject({ eventTime: sentTime, appliedEventTime: signalTime });
      // A past event_time is kept as sent.
      const past = event({ owner_id: connected, object_id: 777_051, event_time: 1_000_000_000 });
      expect((await postJson(`${api.url}/webhooks/strava`, past)).status).toBe(200);
      const pastSignal = await waitFor(() => receivedEvents(dev.client, connected), (events) => events.some((e) => e.objectId === 777_051));
      expect(pastSignal.find((e) => e.objectId === 777_051)!.eventTime).toBe(1_000_000_000);
    });

    it('maps a title/privacy update to field names and a boolean, never the title text', async () => {
      const body = event({ owner_id: connected, object_id: 777_020, aspect_type: 'update', updates: { title: 'Morning run past my house', private: 'true' } });
      expect((await postJson(`${api.url}/webhooks/strava`, body)).status).toBe(200);
      const received = await waitFor(() => receivedEvents(dev.client, connected), (events) => events.some((e) => e.objectId === 777_020));
      const signal = received.find((e) => e.objectId === 777_020)!;
      expect(signal).toEqual({
        objectType: 'activity', objectId: 777_020, aspectType: 'update', ownerId: connected, eventTime: body.event_time,
        updatedFields: ['private', 'title'], private: true, updatesDigest: expect.stringMatching(/^[0-9a-f]{16}$/),
        receivedAt: expect.any(Number),
      });
      const history = JSON.stringify(await dev.client.workflow.getHandle(`athlete-${connected}`).fetchHistory());
      expect(history).not.toContain('Morning run');
      const [row] = (await listEvents(db.sql, { ownerId: connected })).filter((r) => r.objectId === 777_020);
      expect(JSON.stringify(row!.updates)).not.toContain('Morning run');
    });

    it('records events for unknown and revoked athletes as ignored, answers 200 and counts them', async () => {
      const before = (await webhookEventsIgnored.get()).values.find((v) => v.labels.reason === 'athlete_not_connected')?.value ?? 0;
      for (const owner of [stranger, revoked]) {
        const response = await postJson(`${api.url}/webhooks/strava`, event({ owner_id: owner, object_id: 777_030 }));
        expect(response).toEqual({ status: 200, body: { status: 'received' } });
        const rows = await listEvents(db.sql, { ownerId: owner });
        expect(rows).toMatchObject([{ outcome: 'ignored', ignoreReason: 'athlete_not_connected', forwardedAt: null }]);
      }
      const after = (await webhookEventsIgnored.get()).values.find((v) => v.labels.reason === 'athlete_not_connected')!.value;
      expect(after - before).toBe(2);
      // A later event of a connected athlete reaching its workflow proves the relay ran past both; yet no
      // workflow was started for either of them.
      await forwardMarker((body) => postJson(`${api.url}/webhooks/strava`, body), dev.client, connected);
      for (const owner of [stranger, revoked]) {
        await expect(dev.client.workflow.getHandle(`athlete-${owner}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      }
    });

    it('ignores events for a subscription that is not ours once one is stored', async () => {
      await storeSubscription(db.sql, 555, 'https://example.test/webhooks/strava');
      try {
        const foreign = await postJson(`${api.url}/webhooks/strava`, event({ owner_id: connected, object_id: 777_040, subscription_id: 556 }));
        expect(foreign).toEqual({ status: 200, body: { status: 'received' } });
        const ours = await postJson(`${api.url}/webhooks/strava`, event({ owner_id: connected, object_id: 777_041, subscription_id: 555 }));
        expect(ours).toEqual({ status: 200, body: { status: 'received' } });
        const rows = (await listEvents(db.sql, { ownerId: connected })).filter((r) => r.objectId === 777_040 || r.objectId === 777_041);
        expect(rows.map((r) => [r.objectId, r.outcome === 'ignored' ? r.ignoreReason : 'accepted'])).toEqual([
          [777_040, 'subscription_mismatch'],
          [777_041, 'accepted'],
        ]);
      } finally {
        await clearStoredSubscription(db.sql);
      }
    });

    it('converges: nothing is left pending', async () => {
      const counts = await waitFor(() => countByOutcome(db.sql), (c) => c.pending === 0);
      expect(counts.pending).toBe(0);
      expect(counts.forwarded).toBeGreaterThanOrEqual(6);
    });
  });
});

describe('STRAVA_WEBHOOK_PATH_TOKEN', () => {
  let dev: DevServerHandles;
  let ingestion: WebhookIngestion;
  let api: Awaited<ReturnType<typeof listen>>;
  const [owner] = uniqueAthleteIds(1) as [number];

  beforeAll(async () => {
    dev = await connectDevServer();
    const config = testConfig({
      DATABASE_URL: db.url, TEMPORAL_ADDRESS: dev.address, TEMPORAL_TASK_QUEUE: uniqueTaskQueue('webhooks-token'),
      STRAVA_WEBHOOK_PATH_TOKEN: PATH_TOKEN,
    });
    ingestion = createWebhookIngestion({ config, sql: db.sql, workflows: new AthleteGateway(dev.client, config) });
    api = await listen(ingestion.router);
  });
  afterAll(async () => {
    await api?.close();
    await dev?.close();
  });

  it('accepts events and the handshake only on the secret path', async () => {
    const body = event({ owner_id: owner, object_id: 888_001 });
    expect((await postJson(`${api.url}/webhooks/strava/${PATH_TOKEN}`, body)).status).toBe(200);
    const handshake = await fetch(`${api.url}/webhooks/strava/${PATH_TOKEN}?hub.mode=subscribe&hub.challenge=c1&hub.verify_token=dev-verify-token`);
    expect(await handshake.json()).toEqual({ 'hub.challenge': 'c1' });
  });

  it.each([
    ['the bare path', '/webhooks/strava'],
    ['a wrong token', '/webhooks/strava/wrong-token-0123456789'],
    ['a longer path', `/webhooks/strava/${PATH_TOKEN}/extra`],
  ])('answers 404 on %s and stores nothing, even for an oversized body', async (_name, path) => {
    const before = (await listEvents(db.sql, { ownerId: owner })).length;
    const response = await postJson(`${api.url}${path}`, event({ owner_id: owner, object_id: 888_002 }));
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
    const big = await postJson(`${api.url}${path}`, { pad: 'z'.repeat(20_000) });
    expect(big.status).toBe(404);
    const handshake = await fetch(`${api.url}${path}?hub.mode=subscribe&hub.challenge=c1&hub.verify_token=dev-verify-token`);
    expect(handshake.status).toBe(404);
    expect((await listEvents(db.sql, { ownerId: owner })).length).toBe(before);
  });
});

describe('requireSubscription (the default in production)', () => {
  let dev: DevServerHandles;
  let api: Awaited<ReturnType<typeof listen>>;
  const [owner] = uniqueAthleteIds(1) as [number];

  beforeAll(async () => {
    dev = await connectDevServer();
    const config = testConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: dev.address, TEMPORAL_TASK_QUEUE: uniqueTaskQueue('webhooks-require') });
    const ingestion = createWebhookIngestion({ config, sql: db.sql, workflows: new AthleteGateway(dev.client, config), requireSubscription: true });
    api = await listen(ingestion.router);
    await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
  });
  afterAll(async () => {
    await api?.close();
    await dev?.close();
  });

  it('ignores every event while no subscription is stored, and accepts ours once one is', async () => {
    await clearStoredSubscription(db.sql);
    const before = await postJson(`${api.url}/webhooks/strava`, event({ owner_id: owner, object_id: 999_001, subscription_id: 131300 }));
    expect(before).toEqual({ status: 200, body: { status: 'received' } });
    await storeSubscription(db.sql, 131300, 'https://example.test/webhooks/strava');
    try {
      const after = await postJson(`${api.url}/webhooks/strava`, event({ owner_id: owner, object_id: 999_002, subscription_id: 131300 }));
      expect(after).toEqual({ status: 200, body: { status: 'received' } });
    } finally {
      await clearStoredSubscription(db.sql);
    }
    expect((await listEvents(db.sql, { ownerId: owner })).map((r) => [r.objectId, r.outcome, r.ignoreReason])).toEqual([
      [999_001, 'ignored', 'no_subscription'],
      [999_002, 'pending', null],
    ]);
  });
});

describe('event mapping', () => {
  const parse = (body: unknown) => toEventSignal(toInboxInput(webhookEventSchema.parse(body), titleDigest(Buffer.alloc(32, 1))));
  const base = { object_type: 'activity', object_id: 1, aspect_type: 'update', owner_id: 2, subscription_id: 3, event_time: 4 };

  it('turns a deauthorization into deauthorized: true', () => {
    expect(parse({ ...base, object_type: 'athlete', object_id: 2, updates: { authorized: 'false' } })).toEqual({
      objectType: 'athlete', objectId: 2, aspectType: 'update', ownerId: 2, eventTime: 4, updatedFields: ['authorized'], deauthorized: true,
      updatesDigest: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
  });

  it('turns updates.private "false" into private: false and keeps type changes as a field name', () => {
    expect(parse({ ...base, updates: { private: 'false', type: 'Ride' } })).toMatchObject({ updatedFields: ['private', 'type'], private: false });
  });

  it('never carries an own __proto__ key of `updates` into the event', () => {
    const parsed = webhookEventSchema.parse({ ...base, updates: JSON.parse('{"__proto__": {"polluted": 1}, "type": "Ride"}') });
    expect(Object.keys(parsed.updates)).toEqual(['type']);
    expect(Object.getPrototypeOf(parsed.updates)).toBe(Object.prototype);
  });

  it('accepts ids beyond 2^31', () => {
    expect(parse({ ...base, object_id: 12_345_678_901, owner_id: 9_876_543_210 })).toMatchObject({ objectId: 12_345_678_901, ownerId: 9_876_543_210 });
  });
});
