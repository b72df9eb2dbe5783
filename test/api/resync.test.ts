import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStravaSyncClient, StravaSyncError } from 'strava-sync/client';
import { upsertActivities } from '../../src/db/repositories/activities.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import type { SummaryActivity } from '../../src/domain/strava-objects.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { AthleteGateway, athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { createTestDatabase, useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startWorkerProcess, type WorkerProcess } from '../integration/helpers/worker-process.js';
import { ADMIN_KEY, connectAthlete, startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';

/**
 * Issue 13: range re-sync on real Temporal, PostgreSQL and the emulator. A window of the database is corrupted on
 * purpose (rows missing, renamed, invented; activities deleted at Strava without a webhook), the re-sync repairs
 * exactly that window while the worker running it is killed mid-way, and windows the background budget cannot
 * afford are refused up front with the earliest time they could run.
 */
const db = useTestDatabase();

interface Live {
  state: string;
  import: { done: boolean };
  resync: { id: string; pages: number } | null;
  lastResync: { id: string; pages: number; listed: number; added: number; updated: number; deleted: number } | null;
}

describe('POST /athletes/:id/resync', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let workerProcess: WorkerProcess | undefined;
  let worker: { stop(): Promise<void> } | undefined;
  const started: number[] = [];

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 51 })]);
    api = await startApi({ db, dev, emulator });
    workerProcess = await startWorkerProcess({
      DATABASE_URL: db.url,
      TEMPORAL_TASK_QUEUE: api.config.TEMPORAL_TASK_QUEUE,
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
    });
  });
  afterAll(async () => {
    for (const id of started) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await workerProcess?.kill();
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const live = async (id: number) =>
    ((await (await api.fetch(`/athletes/${id}`, { admin: true })).json()) as { workflow: { live?: Live } }).workflow.live;
  const rows = async (id: number) =>
    db.sql<{ id: number; name: string; startDate: Date }[]>`select id, name, start_date as "startDate" from activities where athlete_id = ${id} order by id`;

  it('repairs a deliberately corrupted window, and only that window, resuming after its worker is killed', async () => {
    const athleteId = await connectAthlete(api, emulator, db.sql, 450);
    started.push(athleteId);
    await new AthleteGateway(dev.client, api.config).start(athleteId);
    await waitFor(() => live(athleteId), (s) => s?.import.done === true && s.state === 'idle', { timeoutMs: 60_000, what: 'the import' });

    const truth = ((await emulator.control.groundTruth(athleteId)) as unknown as SummaryActivity[]).sort((a, b) => Date.parse(a.start_date) - Date.parse(b.start_date));
    const seconds = (a: SummaryActivity) => Date.parse(a.start_date) / 1000;
    const after = seconds(truth[99]!);
    const before = seconds(truth[400]!);
    const inWindow = (a: { startDate: Date }) => a.startDate.getTime() / 1000 > after && a.startDate.getTime() / 1000 < before;
    const windowIds = truth.filter((a) => seconds(a) > after && seconds(a) < before).map((a) => a.id);
    expect(windowIds.length).toBeGreaterThan(250);

    // The corruption: inside the window three rows missing, three renamed, two invented, and two activities deleted
    // at Strava without the service hearing of it; outside it, one renamed row that the re-sync must leave alone.
    const [missing, renamed, goneAtStrava] = [windowIds.slice(10, 13), windowIds.slice(20, 23), windowIds.slice(30, 32)];
    await db.sql`delete from activities where id = any(${missing})`;
    await db.sql`update activities set name = 'corrupted' where id = any(${renamed})`;
    const invented = [9_000_000_000_001, 9_000_000_000_002];
    for (const [i, id] of invented.entries()) {
      await db.sql`insert into activities (id, athlete_id, name, sport_type, start_date, raw)
                   select ${id}, athlete_id, 'invented', sport_type, start_date, raw from activities where id = ${windowIds[40 + i]!}`;
    }
    for (const id of goneAtStrava) await emulator.control.deleteActivity(id);
    const outside = truth[50]!.id;
    await db.sql`update activities set name = 'corrupted outside' where id = ${outside}`;

    // Slow pages, so the worker can be killed between the first page and the last.
    await emulator.control.setFaults({ apiLatencyMs: 3_000 });
    const { token } = await createStravaSyncClient({ baseUrl: api.url, token: ADMIN_KEY }).mintClientToken(athleteId, { abilities: ['sync'] });
    const device = createStravaSyncClient({ baseUrl: api.url, token });
    const accepted = await device.resync(athleteId, { after: new Date(after * 1000), before: new Date(before * 1000) });
    expect(accepted).toMatchObject({ athleteId, status: 'accepted', estimatedRequests: 2, statusUrl: `/athletes/${athleteId}` });

    await waitFor(() => live(athleteId), (s) => s?.resync?.id === accepted.resyncId && s.resync.pages >= 1, { timeoutMs: 30_000, what: 'the first page' });
    await workerProcess!.kill();
    workerProcess = undefined;
    await emulator.control.setFaults({ apiLatencyMs: 0 });
    worker = await startWorker(api, dev, db.sql, emulator);
    const done = await waitFor(() => live(athleteId), (s) => s?.lastResync?.id === accepted.resyncId, { timeoutMs: 60_000, what: 'the re-sync to finish on the new worker' });
    expect(done!.resync).toBeNull();
    expect(done!.lastResync).toMatchObject({ added: 3, deleted: goneAtStrava.length + invented.length });
    // Resumed where it was: the window's ~300 activities took two pages, plus at most the one interrupted again.
    expect(done!.lastResync!.pages).toBeGreaterThanOrEqual(2);
    expect(done!.lastResync!.pages).toBeLessThanOrEqual(3);

    const stored = await rows(athleteId);
    const visible = new Map(((await emulator.control.groundTruth(athleteId)) as unknown as SummaryActivity[]).map((a) => [a.id, a.name]));
    const storedWindow = stored.filter(inWindow);
    expect(storedWindow.map((r) => [r.id, r.name])).toEqual(
      [...visible].filter(([id]) => windowIds.includes(id)).sort(([a], [b]) => a - b),
    );
    expect(stored.find((r) => r.id === outside)?.name).toBe('corrupted outside');
    // The sync history holds the re-sync's runs (trigger resync): each page, and the removal pass.
    const runs = await db.sql<{ activity: string; added: number; deleted: number }[]>`
      select activity, added, deleted from sync_runs where athlete_id = ${athleteId} and trigger = 'resync' and outcome = 'ok' order by id`;
    expect(runs.filter((r) => r.activity === 'resync_page')).toHaveLength(done!.lastResync!.pages);
    expect(runs.filter((r) => r.activity === 'resync_page').reduce((sum, r) => sum + r.added, 0)).toBe(3);
    expect(runs.filter((r) => r.activity === 'finish_resync')).toEqual([{ activity: 'finish_resync', added: 0, deleted: goneAtStrava.length + invented.length }]);
    expect(await db.sql`select 1 from range_resyncs`).toHaveLength(0);
  }, 180_000);

  it('is refused for windows the background budget cannot afford: today (429, Retry-After) or in a whole day (422)', async () => {
    // Its own database and API: a small daily limit this instance has not learned otherwise from Strava.
    const small = await createTestDatabase();
    const budgetApi = await startApi({ db: small, dev, env: { STRAVA_READ_LIMIT_DAILY: '4', RATE_BACKGROUND_SHARE: '0.5' } });
    try {
      const athleteId = uniqueAthleteId();
      await emulator.control.createAthlete({ id: athleteId, activities: 420 });
      await upsertConnectedAthlete(small.sql, athleteId, ['read', 'activity:read_all']);
      const truth = (await emulator.control.groundTruth(athleteId, { readAll: true })) as unknown as SummaryActivity[];
      await upsertActivities(small.sql, athleteId, truth, { detailLevel: 2, observedAt: new Date() });
      const client = createStravaSyncClient({ baseUrl: budgetApi.url, token: ADMIN_KEY });

      // 420 stored activities: three list pages, more than the two a whole day's background share allows.
      const everything = await client.resync(athleteId, { after: '2000-01-01T00:00:00Z', before: new Date() }).catch((error: unknown) => error);
      expect(everything).toBeInstanceOf(StravaSyncError);
      expect(everything).toMatchObject({ status: 422, code: 'window_too_large' });

      // A small window fits, until today's background share is spent.
      const fits = await client.resync(athleteId, { after: 0, before: 1 });
      expect(fits).toMatchObject({ status: 'accepted', estimatedRequests: 1 });
      started.push(athleteId);
      for (let i = 0; i < 2; i++) expect((await budgetApi.strava.governor.acquire('realtime')).ok).toBe(true);
      const refused = await budgetApi.fetch(`/athletes/${athleteId}/resync`, {
        method: 'POST',
        admin: true,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ after: 0, before: 1 }),
      });
      expect(refused.status).toBe(429);
      const midnight = new Date(Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000);
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('budget_exhausted');
      expect(body.error.message).toContain(midnight.toISOString());
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(Math.abs(Date.now() + retryAfter * 1000 - midnight.getTime())).toBeLessThan(5_000);
    } finally {
      await budgetApi.stop();
      await small.drop();
    }
  });

  it.each([
    [{ after: '2024-02-01T00:00:00Z', before: '2024-01-01T00:00:00Z' }, 'before'],
    [{ after: '2024-01-01T00:00:00Z' }, 'before'],
    [{ after: 'yesterday', before: '2024-01-01T00:00:00Z' }, 'after'],
    [{ after: -5, before: 10 }, 'after'],
    [{ after: 0, before: 10, athleteId: 3 }, 'athleteId'],
  ])('%j -> 400 naming %s', async (body, field) => {
    const athleteId = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, athleteId, ['read']);
    const response = await api.fetch(`/athletes/${athleteId}/resync`, {
      method: 'POST',
      admin: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    const error = ((await response.json()) as { error: { code: string; message: string } }).error;
    expect(error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining(field) });
  });
});
