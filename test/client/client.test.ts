import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStravaSyncClient, StravaSyncError, type Change, type StravaSyncClient } from 'strava-sync/client';
import { publishChange } from '../../src/db/change-feed.js';
import { upsertActivities } from '../../src/db/repositories/activities.js';
import type { SummaryActivity } from '../../src/domain/strava-objects.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait-for.js';
import { ADMIN_KEY, connectAthlete, startApi, startWorker, type ApiHarness } from '../api/helpers/api-harness.js';

/**
 * Issue 13: the typed client (`strava-sync/client`, imported by its package name) against the real API, worker,
 * PostgreSQL, Temporal and the emulator: a backend with the admin key mints a client token, a device uses it for
 * status, the activity cursor, focus, sync now (through 202 and outcome polling) and the event stream, which
 * resumes by itself across an API restart with exactly the changes missed.
 */
const db = useTestDatabase();

describe('strava-sync/client', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  let backend: StravaSyncClient;
  let athlete: number;
  let truth: SummaryActivity[];

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 31 })]);
    api = await startApi({ db, dev, emulator });
    worker = await startWorker(api, dev, db.sql, emulator);
    backend = createStravaSyncClient({ baseUrl: api.url, token: ADMIN_KEY });
    athlete = await connectAthlete(api, emulator, db.sql, 23);
    truth = (await emulator.control.groundTruth(athlete, { readAll: true })) as unknown as SummaryActivity[];
    await upsertActivities(db.sql, athlete, truth, { detailLevel: 2, observedAt: new Date() });
  });
  afterAll(async () => {
    await dev?.client.workflow.getHandle(athleteWorkflowId(athlete)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const device = async (abilities: ('read' | 'focus' | 'sync' | 'events')[], requests: string[] = []) => {
    const { token } = await backend.mintClientToken(athlete, { abilities, ttlSeconds: 600 });
    return createStravaSyncClient({
      baseUrl: api.url,
      token: () => token,
      fetch: (input, init) => {
        requests.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
        return fetch(input, init);
      },
    });
  };

  it('status and every activity through the cursor, newest first, with a read token', async () => {
    const app = await device(['read']);
    const status = await app.status(athlete);
    expect(status).toMatchObject({ athleteId: athlete, workflow: { id: athleteWorkflowId(athlete) } });
    const ids: number[] = [];
    for await (const activity of app.activities(athlete, { limit: 5 })) ids.push(activity.id);
    const newestFirst = [...truth].sort((a, b) => Date.parse(b.start_date) - Date.parse(a.start_date) || b.id - a.id).map((a) => a.id);
    expect(ids).toEqual(newestFirst);
    const middle = truth.find((a) => a.id === newestFirst[10])!;
    const older: number[] = [];
    for await (const activity of app.activities(athlete, { limit: 4, before: new Date(middle.start_date) })) older.push(activity.id);
    expect(older).toEqual(newestFirst.filter((id) => Date.parse(truth.find((a) => a.id === id)!.start_date) < Date.parse(middle.start_date)));
  });

  it('a route outside the token: a StravaSyncError with the status and code of the API', async () => {
    const app = await device(['read']);
    const refused = await app.focus(athlete).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StravaSyncError);
    expect(refused).toMatchObject({ status: 403, code: 'forbidden' });
    const noStream = app.events(athlete, { onChange: () => {} });
    await expect(noStream.done).rejects.toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('focus, and sync now through the 202 and the outcome polling', async () => {
    const requests: string[] = [];
    const app = await device(['focus', 'sync'], requests);
    expect(await app.focus(athlete)).toMatchObject({ athleteId: athlete, status: 'accepted' });
    const wait = api.config.SYNC_NOW_WAIT;
    api.config.SYNC_NOW_WAIT = 1;
    try {
      const result = await app.syncNow(athlete, { pollIntervalMs: 200, timeoutMs: 60_000 });
      expect(result).toMatchObject({ added: expect.any(Number), updated: expect.any(Number), deleted: expect.any(Number), requests: expect.any(Number) });
    } finally {
      api.config.SYNC_NOW_WAIT = wait;
    }
    expect(requests).toContain(`POST /athletes/${athlete}/sync`);
    expect(requests.some((r) => r.startsWith(`GET /athletes/${athlete}/sync/`))).toBe(true);
  });

  it('the event stream resumes by itself across an API restart with exactly the changes missed', async () => {
    const app = await device(['events']);
    const received: Change[] = [];
    const opened: ({ resumedFrom?: number })[] = [];
    const stream = app.events(athlete, { onChange: (change) => received.push(change), onOpen: (info) => opened.push(info), retryMs: 200 });
    await waitFor(() => opened.length, (n) => n === 1, { what: 'the stream to open' });
    const publish = () => publishChange(db.sql, { athleteId: athlete, kind: 'athlete_state' });
    const before = await publish();
    await waitFor(() => received.map((c) => c.id), (ids) => ids.includes(before), { what: 'the first change' });

    const port = api.server.port;
    const lastSeen = stream.lastEventId;
    await api.stop();
    const missed = [await publish(), await publish()];
    api = await startApi({ db, dev, emulator, port });
    await waitFor(() => opened.length, (n) => n >= 2, { what: 'the stream to reconnect', timeoutMs: 20_000 });
    const live = await publish();
    await waitFor(() => received.map((c) => c.id), (ids) => ids.includes(live), { what: 'the live change' });
    expect(opened[1]).toEqual({ resumedFrom: lastSeen });
    // Exactly the athlete's log from the first change on (the workflow may add its own): none lost, none twice.
    const logged = (await db.sql<{ id: number }[]>`select id from change_log where athlete_id = ${athlete} and id >= ${before} and id <= ${live} order by id`).map((r) => r.id);
    expect(received.map((c) => c.id).filter((id) => id >= before)).toEqual(logged);
    expect(logged).toEqual(expect.arrayContaining([before, ...missed, live]));
    expect(stream.lastEventId).toBe(live);
    stream.close();
    await stream.done;
  });

  it('the backend follows the fleet feed: every change once, in order', async () => {
    const head = (await db.sql<{ head: number }[]>`select coalesce(max(id), 0)::int as head from change_log`)[0]!.head;
    const abort = new AbortController();
    const seen: number[] = [];
    const following = backend.followChanges({
      after: head,
      waitSeconds: 2,
      signal: abort.signal,
      onChanges: (changes) => {
        seen.push(...changes.map((c) => c.id));
      },
    });
    const published: number[] = [];
    for (let i = 0; i < 5; i++) published.push(await publishChange(db.sql, { athleteId: athlete, kind: 'athlete_state' }));
    await waitFor(() => seen, (ids) => ids.includes(published.at(-1)!), { what: 'the followed changes' });
    abort.abort();
    expect(await following).toBe(seen.at(-1));
    expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b));
    expect(seen.filter((id) => published.includes(id))).toEqual(published);
  });
});
