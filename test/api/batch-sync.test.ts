import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/api/http/logger.js';
import { createBatchSync } from '../../src/api/admin/batch-sync.js';
import type { SyncBatchView } from '../../src/api/admin/schemas.js';
import { purgeAthlete, setAthleteState, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { createBatch, markItemStarted } from '../../src/db/repositories/sync-batches.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { AthleteGateway, athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { statusQuery } from '../../src/workflows/messages.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { connectAthlete, startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';

const db = useTestDatabase();

describe('batch sync: POST /admin/sync and GET /admin/sync/:batchId', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  const connected: number[] = [];
  let revoked: number;

  const post = (body: unknown) =>
    api.fetch('/admin/sync', { method: 'POST', admin: true, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const batch = async (id: string) => (await (await api.fetch(`/admin/sync/${id}`, { admin: true })).json()) as SyncBatchView;
  /** Starts a batch and polls it until done. */
  async function runBatch(body: unknown): Promise<SyncBatchView> {
    const response = await post(body);
    expect(response.status).toBe(202);
    const started = (await response.json()) as SyncBatchView;
    expect(response.headers.get('location')).toBe(started.statusUrl);
    return waitFor(() => batch(started.batchId), (view) => view.done, { timeoutMs: 60_000, intervalMs: 200, what: 'the batch to finish' });
  }
  const liveStatus = (athleteId: number) => dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).query(statusQuery);

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 12 })]);
    api = await startApi({ db, dev, emulator, appOptions: { adminSyncConcurrency: 2, adminSyncHeartbeatMs: 500 } });
    worker = await startWorker(api, dev, db.sql, emulator);
    for (let i = 0; i < 3; i++) connected.push(await connectAthlete(api, emulator, db.sql, 3));
    revoked = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, revoked, ['read']);
    await purgeAthlete(db.sql, revoked);
  });
  afterAll(async () => {
    for (const id of connected) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it('refuses malformed requests with 400 naming the field; an unknown batch is 404', async () => {
    for (const body of [
      { mode: 'slow' },
      { skipIfSyncedWithin: 'soon' },
      { skipIfSyncedWithin: '90d' },
      { skipIfSyncedWithin: -1 },
      { limit: 0 },
      { athleteIds: [] },
      { athleteIds: 'some' },
      { unknown: 1 },
    ]) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const field = Object.keys(body)[0]!;
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain(field === 'unknown' ? 'unknown' : field);
    }
    expect((await api.fetch('/admin/sync/not-a-uuid', { admin: true })).status).toBe(400);
    const unknown = await api.fetch('/admin/sync/00000000-0000-4000-8000-000000000000', { admin: true });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('batch_not_found');
  });

  it('"all" (or no list): every athlete not revoked synced, the revoked skipped with the reason; the aggregate sums the results', async () => {
    const first = await runBatch({ athleteIds: 'all' });
    expect(first).toMatchObject({
      done: true,
      mode: 'quick',
      athletes: 4,
      started: 3,
      succeeded: 3,
      running: 0,
      queued: 0,
      skipped: { total: 1, byReason: { revoked: 1 } },
      failed: { total: 0, byType: {} },
    });
    expect(first.requests).toBeGreaterThanOrEqual(3);
    // The workflows went on to import the history; wait for it so the next sums are exact.
    await waitFor(
      async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from athletes where state = 'idle'`)[0]!.n,
      (n) => n === 3,
      { timeoutMs: 30_000, what: 'every import done' },
    );

    // Changes no webhook announced (there is no subscription): one new, one renamed, one deleted activity.
    const [a, b, c] = connected as [number, number, number];
    const renamed = await emulator.control.createActivity(b, { name: 'to be renamed' });
    const deleted = await emulator.control.createActivity(c, { name: 'soon gone' });
    expect(await runBatch({ athleteIds: [b, c] })).toMatchObject({ succeeded: 2, activities: { added: 2, updated: 0, deleted: 0 } });
    await emulator.control.createActivity(a, { name: 'new run' });
    await emulator.control.updateActivity(renamed.id, { name: 'renamed' });
    await emulator.control.deleteActivity(deleted.id);

    const second = await runBatch({});
    expect(second).toMatchObject({ succeeded: 3, failed: { total: 0 }, activities: { added: 1, updated: 1, deleted: 1 } });
    // Each sum is the sum of the athletes' own results, as their workflows report them.
    const [row] = await db.sql<{ requests: number }[]>`
      select sum(requests)::int as requests from sync_batch_athletes where batch_id = ${second.batchId}`;
    expect(second.requests).toBe(row!.requests);
  });

  it('an explicit list: unknown ids skipped as not_connected, duplicates once; skipIfSyncedWithin and limit', async () => {
    const unknown = uniqueAthleteId();
    const listed = await runBatch({ athleteIds: [connected[0], connected[0], unknown, revoked] });
    expect(listed).toMatchObject({ athletes: 3, succeeded: 1, skipped: { total: 2, byReason: { not_connected: 1, revoked: 1 } } });

    const recent = await runBatch({ skipIfSyncedWithin: '15m' });
    expect(recent).toMatchObject({ started: 0, succeeded: 0, skipped: { byReason: { synced_recently: 3, revoked: 1 } } });
    expect(recent.skipIfSyncedWithinMs).toBe(15 * 60_000);

    // The least recently synced first: make connected[2] the stalest.
    await db.sql`update athletes set last_sync_at = now() - interval '2 days' where id = ${connected[2]!}`;
    const limited = await runBatch({ skipIfSyncedWithin: 60_000 * 60 * 24, limit: 1 });
    expect(limited).toMatchObject({ started: 1, succeeded: 1, limit: 1, skipped: { byReason: { synced_recently: 2, revoked: 1 } } });
    const [chosen] = await db.sql<{ athleteId: number }[]>`
      select athlete_id as "athleteId" from sync_batch_athletes where batch_id = ${limited.batchId} and status = 'succeeded'`;
    expect(chosen!.athleteId).toBe(connected[2]);

    const overLimit = await runBatch({ limit: 2 });
    expect(overLimit).toMatchObject({ started: 2, skipped: { byReason: { over_limit: 1, revoked: 1 } } });
  });

  it('mode full lists the backfill window and counts as the backfill', async () => {
    const athleteId = connected[1]!;
    const before = await liveStatus(athleteId);
    const full = await runBatch({ athleteIds: [athleteId], mode: 'full' });
    expect(full).toMatchObject({ mode: 'full', succeeded: 1 });
    const after = await liveStatus(athleteId);
    expect(Date.parse(after.lastBackfillAt!)).toBeGreaterThan(Date.parse(before.lastBackfillAt!));
    expect(after.counters.syncNows).toBe(before.counters.syncNows + 1);
    // A quick sync leaves the backfill alone.
    await runBatch({ athleteIds: [athleteId], mode: 'quick' });
    expect((await liveStatus(athleteId)).lastBackfillAt).toBe(after.lastBackfillAt);
  });

  it('failures are counted by type; athletes that must reconnect are skipped up front', async () => {
    const [a, b] = connected as [number, number];
    // b's tokens are gone (a revoked grant would be purged instead): its sync fails with the workflow's failure type.
    await db.sql`delete from tokens where athlete_id = ${b}`;
    const failed = await runBatch({ athleteIds: [a, b] });
    expect(failed).toMatchObject({ succeeded: 1, failed: { total: 1, byType: { NeedsReauth: 1 } } });
    expect(failed.failures).toEqual([{ athleteId: b, type: 'NeedsReauth', message: expect.any(String) }]);
    await waitFor(async () => (await db.sql<{ state: string }[]>`select state from athletes where id = ${b}`)[0]!.state, (s) => s === 'needs_reauth', {
      what: 'b marked needs_reauth',
    });
    const skipped = await runBatch({ athleteIds: [a, b] });
    expect(skipped).toMatchObject({ succeeded: 1, failed: { total: 0 }, skipped: { byReason: { needs_reauth: 1 } } });
    // A row that does not show it yet: the workflow's validator refuses the request, counted by its type.
    await setAthleteState(db.sql, b, 'idle');
    const refused = await runBatch({ athleteIds: [b] });
    expect(refused).toMatchObject({ started: 1, failed: { total: 1, byType: { SyncNowRejected: 1 } } });
    await setAthleteState(db.sql, b, 'needs_reauth');
  });

  it('paused athletes are skipped; once resumed they are synced even before their row says so', async () => {
    const athleteId = connected[0]!;
    const status = async () => (await (await api.fetch(`/athletes/${athleteId}`, { admin: true })).json()) as { pausedBy: string | null };
    expect((await api.fetch(`/athletes/${athleteId}/pause`, { method: 'POST', admin: true })).status).toBe(202);
    await waitFor(async () => (await db.sql<{ state: string }[]>`select state from athletes where id = ${athleteId}`)[0]!.state, (s) => s === 'paused', {
      what: 'the row to say paused',
    });
    expect(await runBatch({ athleteIds: [athleteId] })).toMatchObject({ started: 0, skipped: { byReason: { paused: 1 } } });
    expect((await api.fetch(`/athletes/${athleteId}/resume`, { method: 'POST', admin: true })).status).toBe(202);
    await waitFor(status, (s) => s.pausedBy === null, { what: 'the workflow to resume' });
    // The row may still say paused (the workflow writes its resting state after the catch-up sync): asked live.
    await db.sql`update athletes set state = 'paused' where id = ${athleteId}`;
    expect(await runBatch({ athleteIds: [athleteId] })).toMatchObject({ started: 1, succeeded: 1 });
    await db.sql`update athletes set state = 'idle' where id = ${athleteId}`;
  });

  it('a batch whose runner stopped is adopted by the next instance asked: queued ones requested, started ones looked up (not requested twice)', async () => {
    const [queuedAthlete, startedAthlete] = [connected[0]!, connected[2]!];
    const gateway = new AthleteGateway(dev.client, api.config);
    const syncsBefore = (await liveStatus(startedAthlete)).counters.syncNows;
    const batchId = crypto.randomUUID();
    await createBatch(db.sql, {
      id: batchId,
      mode: 'quick',
      options: { skipIfSyncedWithinMs: null, limit: null },
      runner: 'an instance that stopped',
      items: [
        { athleteId: queuedAthlete, status: 'queued' },
        { athleteId: startedAthlete, status: 'queued' },
      ],
    });
    const requested = await gateway.requestSync(startedAthlete, 10_000);
    await markItemStarted(db.sql, batchId, startedAthlete, requested.syncId);
    await db.sql`update sync_batches set heartbeat_at = now() - interval '1 hour' where id = ${batchId}`;
    const done = await waitFor(() => batch(batchId), (view) => view.done, { timeoutMs: 60_000, intervalMs: 200, what: 'the adopted batch to finish' });
    expect(done).toMatchObject({ succeeded: 2, failed: { total: 0 } });
    expect(api.logs.join('')).toContain('batch sync adopted');
    expect((await liveStatus(startedAthlete)).counters.syncNows).toBe(syncsBefore + 1);
  });

  it('tokens refreshed on the way are counted (access tokens expired at the emulator)', async () => {
    await emulator.control.advanceClock(7 * 3_600_000);
    const refreshed = await runBatch({ athleteIds: [connected[0], connected[2]] });
    expect(refreshed).toMatchObject({ succeeded: 2, tokensRefreshed: 2 });
    const counts = await db.sql<{ n: number }[]>`select refresh_count as n from tokens where athlete_id in ${db.sql([connected[0]!, connected[2]!])}`;
    expect(counts.every((row) => row.n >= 1)).toBe(true);
  });
});

describe('batch sync concurrency (the runner against a stand-in gateway)', () => {
  it('never has more than `concurrency` syncs open at once', async () => {
    let open = 0;
    let most = 0;
    const ids = Array.from({ length: 9 }, () => uniqueAthleteId());
    for (const id of ids) await upsertConnectedAthlete(db.sql, id, ['read']);
    const workflows = {
      async requestSync(athleteId: number) {
        open += 1;
        most = Math.max(most, open);
        return {
          syncId: `sync-${athleteId}`,
          async outcome() {
            await new Promise((resolve) => setTimeout(resolve, 30));
            open -= 1;
            return { kind: 'done' as const, result: { added: 1, updated: 0, deleted: 0, requests: 2, durationMs: 5, tokensRefreshed: 0 } };
          },
        };
      },
      async syncOutcome(): Promise<undefined> {
        throw new Error('not asked: every sync here has its handle');
      },
      async status(): Promise<never> {
        throw new Error('not asked: nobody here is paused');
      },
    };
    const runner = createBatchSync({ sql: db.sql, workflows, logger: createLogger({ level: 'silent' }), concurrency: 3, heartbeatMs: 200 });
    const batchId = await runner.start({ athleteIds: ids, mode: 'quick' });
    const view = await waitFor(() => runner.view(batchId), (v) => v!.done, { what: 'the batch' });
    expect(view).toMatchObject({ succeeded: 9, activities: { added: 9 }, requests: 18 });
    expect(most).toBe(3);
    await runner.stop();
  });
});
