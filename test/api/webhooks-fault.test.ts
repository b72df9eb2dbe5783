import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../../src/db/connection.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome, listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { freePort, startDevServer, type RunningDevServer } from '../../src/dev/temporal-dev-server.js';
import { useTestDatabase } from '../helpers/database.js';
import { quietRuntime, uniqueTaskQueue } from '../helpers/temporal.js';
import { startApi, type ApiHarness } from './helpers/api-harness.js';
import { proxiedUrl, startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { event, forwardMarker, postJson, receivedEvents, startRecordingWorker, uniqueAthleteIds, waitFor } from './webhooks-fixtures/harness.js';

const db = useTestDatabase();

/**
 * The fault test, through createApp: Temporal down -> 100 events answered 200 and stored; Temporal back
 * -> every one reaches its workflow exactly once and the inbox converges; PostgreSQL down -> a signal Temporal
 * accepts is still a 200; both down -> 503. This file runs its own Temporal dev server (same port and
 * --db-filename across the restart) and reaches PostgreSQL through a TCP proxy it can cut.
 */
describe('webhooks while Temporal and PostgreSQL fail', () => {
  let dir: string;
  let port: number;
  let temporal: RunningDevServer | undefined;
  let connection: Connection;
  let client: Client;
  let worker: { stop(): Promise<void> } | undefined;
  let native: NativeConnection | undefined;
  let proxy: TcpProxy;
  let appSql: Sql;
  let api: ApiHarness;
  const taskQueue = uniqueTaskQueue('fault');
  const owners = uniqueAthleteIds(10);
  const [stranger] = uniqueAthleteIds(1) as [number];

  const startTemporal = async () => {
    temporal = await startDevServer({ port, dbFilename: join(dir, 'temporal.sqlite') });
    native = await NativeConnection.connect({ address: temporal.address });
    worker = await startRecordingWorker(native, taskQueue);
  };
  const stopTemporal = async () => {
    await worker?.stop();
    await native?.close();
    await temporal?.stop();
    worker = undefined;
    native = undefined;
    temporal = undefined;
  };

  beforeAll(async () => {
    quietRuntime();
    dir = await mkdtemp(join(tmpdir(), 'strava-sync-fault-'));
    port = await freePort();
    await startTemporal();
    connection = await Connection.connect({ address: temporal!.address });
    client = new Client({ connection });
    proxy = await startDatabaseProxy(db.url);
    const appUrl = proxiedUrl(db.url, proxy);
    appSql = createSql(appUrl, { max: 5, applicationName: 'fault-test-api' });
    api = await startApi({
      db,
      dev: { address: temporal!.address, client },
      appSql,
      env: { DATABASE_URL: appUrl, TEMPORAL_TASK_QUEUE: taskQueue },
      relay: true,
      webhookRelay: { minBackoffMs: 200, maxBackoffMs: 1_000, idlePollMs: 200 },
    });
    for (const owner of owners) await upsertConnectedAthlete(db.sql, owner, ['read', 'activity:read_all']);
  });
  afterAll(async () => {
    await api?.stop();
    await appSql?.end({ timeout: 1 });
    await proxy?.stop();
    await connection?.close();
    await stopTemporal();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (body: unknown) => postJson(`${api.url}/webhooks/strava`, body);

  it('answers 100 events with 200 while Temporal is down, then delivers each exactly once after it restarts', async () => {
    await stopTemporal();
    const sent = owners.flatMap((owner, o) =>
      Array.from({ length: 10 }, (_, i) => event({ owner_id: owner, object_id: 70_000_000 + o * 100 + i, event_time: 1_700_000_000 + i })),
    );
    // Ten concurrent senders, as Strava's bursts arrive.
    const answers: { status: number; body: unknown }[] = [];
    for (let i = 0; i < sent.length; i += 10) answers.push(...(await Promise.all(sent.slice(i, i + 10).map(post))));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
    expect(answers.every((a) => (a.body as { status: string }).status === 'received')).toBe(true);
    expect(await countByOutcome(db.sql)).toMatchObject({ pending: 100, forwarded: 0 });
    await waitFor(async () => api.app.relay.backingOff, (b) => b, 10_000);
    expect(api.app.relay.backingOff).toBe(true);

    await startTemporal();
    const counts = await waitFor(() => countByOutcome(db.sql), (c) => c.pending === 0, 45_000);
    expect(counts).toMatchObject({ pending: 0, forwarded: 100, ignored: 0 });
    let delivered = 0;
    for (const [o, owner] of owners.entries()) {
      const received = await waitFor(() => receivedEvents(client, owner), (e) => e.length >= 10);
      const recorded = await listEvents(db.sql, { ownerId: owner });
      const ids = received.map((e) => e.objectId);
      // Every event arrives...
      expect([...new Set(ids)].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 70_000_000 + o * 100 + i));
      // ...once, unless a signal outlived its deadline on this loaded machine after Temporal took it: the relay then
      // counted a failed attempt and sent the row again (at-least-once; the workflow drops repeats by identity). A
      // repeat the relay did not count is a bug.
      const attempts = new Map(recorded.map((r) => [r.objectId, r.forwardAttempts]));
      for (const id of new Set(ids)) expect(ids.filter((x) => x === id).length, `deliveries of ${id}`).toBeLessThanOrEqual(attempts.get(id)!);
      // ...oldest first (the order the concurrent POSTs were recorded in).
      expect([...new Set(ids)]).toEqual(recorded.map((r) => r.objectId));
      delivered += ids.length;
    }
    // Stays converged: nothing is forwarded again later on (a later event going through proves the relay ran again).
    // (The last owner's: the next test counts the first owner's rows.)
    await forwardMarker(post, client, owners.at(-1)!);
    const total = (await Promise.all(owners.map((owner) => receivedEvents(client, owner)))).reduce((n, e) => n + e.length, 0);
    expect(total).toBe(delivered + 1);
    const rows = await listEvents(db.sql);
    expect(rows.every((r) => r.outcome === 'forwarded' && r.forwardedAt !== null && r.forwardAttempts >= 1)).toBe(true);
    expect(api.app.relay.backingOff).toBe(false);
  });

  it('answers 200 with PostgreSQL down when Temporal accepts the signal, 503 when nobody can take the event', async () => {
    await proxy.stop();
    const owner = owners[0]!;
    const viaTemporal = await post(event({ owner_id: owner, object_id: 71_000_001 }));
    expect(viaTemporal).toEqual({ status: 200, body: { status: 'received' } });
    const received = await waitFor(() => receivedEvents(client, owner), (e) => e.some((x) => x.objectId === 71_000_001));
    expect(received.filter((x) => x.objectId === 71_000_001)).toHaveLength(1);

    // No database to tell whether this athlete is connected, and no workflow running for it: Strava must retry.
    const unknown = await post(event({ owner_id: stranger, object_id: 71_000_002 }));
    expect(unknown.status).toBe(503);
    expect((unknown.body as { error: { code: string } }).error.code).toBe('unavailable');

    await stopTemporal();
    const started = Date.now();
    const neither = await post(event({ owner_id: owner, object_id: 71_000_003 }));
    expect(neither.status).toBe(503);
    // Well inside Strava's 2-second window, so Strava sees the 503 rather than a timeout.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await listEvents(db.sql, { ownerId: owner })).toSatisfy((rows: { objectId: number }[]) => rows.every((r) => r.objectId < 71_000_000));

    // Both back: the retried event is recorded and delivered.
    await proxy.start();
    await startTemporal();
    const retried = await waitFor(() => post(event({ owner_id: owner, object_id: 71_000_003 })), (r) => r.status === 200, 10_000);
    expect(retried).toEqual({ status: 200, body: { status: 'received' } });
    const after = await waitFor(() => receivedEvents(client, owner), (e) => e.some((x) => x.objectId === 71_000_003), 20_000);
    expect(after.filter((x) => x.objectId === 71_000_003)).toHaveLength(1);
  });
});
