import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { titleDigest, toInboxInput, webhookEventSchema } from '../../src/api/webhooks/event-schema.js';

const digestTitle = titleDigest(Buffer.alloc(32, 1));
import { createInboxRelay } from '../../src/api/webhooks/relay.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome, listEvents, recordEvent } from '../../src/db/repositories/webhook-inbox.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { AthleteGateway } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, uniqueTaskQueue, type DevServerHandles } from '../helpers/temporal.js';
import { event, receivedEvents, startRecordingWorker, testConfig, uniqueAthleteIds, waitFor } from './webhooks-fixtures/harness.js';

const db = useTestDatabase();

describe('webhook inbox relay', () => {
  let dev: DevServerHandles;
  let worker: { stop(): Promise<void> };
  let taskQueue: string;

  beforeAll(async () => {
    dev = await connectDevServer();
    taskQueue = uniqueTaskQueue('relay');
    worker = await startRecordingWorker(dev.nativeConnection, taskQueue);
  });
  afterAll(async () => {
    await worker?.stop();
    await dev?.close();
  });

  it('keeps rows pending and counts the attempt while Temporal is unreachable', async () => {
    const [owner] = uniqueAthleteIds(1) as [number];
    await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
    await recordEvent(db.sql, toInboxInput(webhookEventSchema.parse(event({ owner_id: owner })), digestTitle));
    // A real client aimed at a port nothing listens on: the signal cannot be delivered.
    const deadConnection = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
    const config = testConfig({ DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue });
    const relay = createInboxRelay({ sql: db.sql, forwarder: new AthleteGateway(new Client({ connection: deadConnection }), config).eventForwarder(500) });
    const result = await relay.drainOnce();
    expect(result).toMatchObject({ claimed: 1, forwarded: 0, failure: { target: 'temporal' } });
    expect(await listEvents(db.sql, { ownerId: owner })).toMatchObject([{ outcome: 'pending', forwardAttempts: 1, forwardedAt: null }]);
    await deadConnection.close();

    // The same row goes out once Temporal answers.
    const live = createInboxRelay({ sql: db.sql, forwarder: new AthleteGateway(dev.client, config).eventForwarder(5_000) });
    expect(await live.drainOnce()).toMatchObject({ claimed: 1, forwarded: 1 });
    expect(await listEvents(db.sql, { ownerId: owner })).toMatchObject([{ outcome: 'forwarded', forwardAttempts: 2 }]);
    expect(await receivedEvents(dev.client, owner)).toHaveLength(1);
  });

  it('two relays on one database forward every row exactly once, each athlete in order', async () => {
    const owners = uniqueAthleteIds(12);
    for (const owner of owners) await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
    const sent = new Map<number, number[]>();
    for (let i = 0; i < 240; i++) {
      const owner = owners[i % owners.length]!;
      const objectId = 5_000_000 + i;
      await recordEvent(db.sql, toInboxInput(webhookEventSchema.parse(event({ owner_id: owner, object_id: objectId })), digestTitle));
      sent.set(owner, [...(sent.get(owner) ?? []), objectId]);
    }
    const config = testConfig({ DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue });
    // Small batches so the two relays interleave many times.
    const relays = [1, 2].map(() =>
      createInboxRelay({ sql: db.sql, forwarder: new AthleteGateway(dev.client, config).eventForwarder(5_000), batchSize: 10, idlePollMs: 50 }),
    );
    for (const relay of relays) relay.start();
    try {
      const counts = await waitFor(() => countByOutcome(db.sql), (c) => c.pending === 0, 40_000);
      expect(counts.pending).toBe(0);
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
    }
    for (const owner of owners) {
      const received = await waitFor(() => receivedEvents(dev.client, owner), (e) => e.length >= sent.get(owner)!.length);
      // Exactly once, and in the order the rows were recorded (oldest first).
      expect(received.map((e) => e.objectId)).toEqual(sent.get(owner));
    }
  });
});
