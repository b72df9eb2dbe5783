import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { upsertActivities } from '../../src/db/repositories/activities.js';
import type { SummaryActivity } from '../../src/domain/strava-objects.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, connectAthlete, eventually, startApi, startWorker, uniqueAthleteId, waitFor, type ApiHarness } from './helpers/api-harness.js';

const db = useTestDatabase();

interface ActivityBody {
  id: number;
  startDate: string;
  name: string;
  raw?: unknown;
}
interface PageBody {
  activities: ActivityBody[];
  nextCursor: string | null;
}

describe('athlete routes', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  const started: number[] = [];

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 7 })]);
    api = await startApi({ db, dev, emulator, appOptions: { sseHeartbeatMs: 200 } });
    worker = await startWorker(api, dev, db.sql, emulator);
  });
  afterAll(async () => {
    for (const id of started) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const connectedAthlete = (activities = 0) => connectAthlete(api, emulator, db.sql, activities);

  describe('authorization and ids', () => {
    const routes: [string, string][] = [
      ['GET', '/athletes/1'],
      ['GET', '/athletes/1/activities'],
      ['POST', '/athletes/1/focus'],
      ['POST', '/athletes/1/sync'],
      ['POST', '/athletes/1/pause'],
      ['POST', '/athletes/1/resume'],
      ['DELETE', '/athletes/1'],
      ['GET', '/athletes/1/events'],
    ];
    it.each(routes)('%s %s needs the admin key', async (method, path) => {
      const missing = await api.fetch(path, { method });
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await missing.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
      const wrong = await api.fetch(path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}x` } });
      expect(wrong.status).toBe(401);
      const basic = await api.fetch(path, { method, headers: { authorization: `Basic ${ADMIN_KEY}` } });
      expect(basic.status).toBe(401);
    });

    it.each(routes)('%s %s: unknown athlete -> 404 JSON, bad ids -> 400', async (method, path) => {
      const unknown = await api.fetch(path.replace('/1', '/999999'), { method, admin: true });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: { code: 'athlete_not_found', message: expect.stringContaining('999999') } });
      for (const bad of ['0', '-3', 'abc', '1.5', '1e3', '99999999999999999999']) {
        const response = await api.fetch(path.replace('/1', `/${bad}`), { method, admin: true });
        expect(response.status).toBe(400);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
      }
    });
  });

  describe('GET /athletes/:id', () => {
    it('answers from the database when no workflow exists', async () => {
      const id = uniqueAthleteId();
      await upsertConnectedAthlete(db.sql, id, ['read', 'activity:read']);
      const response = await api.fetch(`/athletes/${id}`, { admin: true });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        athleteId: id,
        state: 'importing',
        scopes: ['read', 'activity:read'],
        source: 'database',
        workflow: { id: athleteWorkflowId(id), status: 'absent' },
      });
    });

    it("answers from the workflow's status query while it runs, from the database once it is closed", async () => {
      const id = await connectedAthlete(3);
      started.push(id);
      expect((await api.fetch(`/athletes/${id}/focus`, { method: 'POST', admin: true })).status).toBe(202);
      const live = (await waitFor(
        async () => (await (await api.fetch(`/athletes/${id}`, { admin: true })).json()) as { source: string; state: string },
        (body) => body.source === 'workflow' && body.state === 'idle',
        { timeoutMs: 20_000, what: 'a live idle status' },
      )) as unknown as { workflow: { status: string; live: { athleteId: number } } };
      expect(live.workflow.status).toBe('running');
      expect(live.workflow.live.athleteId).toBe(id);
      await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test: closed workflow');
      const closed = await (await api.fetch(`/athletes/${id}`, { admin: true })).json();
      expect(closed).toMatchObject({ source: 'database', workflow: { status: 'closed', closedStatus: 'TERMINATED' } });
    });
  });

  describe('GET /athletes/:id/activities', () => {
    let id: number;
    let truth: SummaryActivity[];
    beforeAll(async () => {
      id = uniqueAthleteId();
      await emulator.control.createAthlete({ id, activities: 45 });
      await upsertConnectedAthlete(db.sql, id, ['read', 'activity:read_all']);
      truth = (await emulator.control.groundTruth(id, { readAll: true })) as unknown as SummaryActivity[];
      await upsertActivities(db.sql, id, truth, { detailLevel: 2, observedAt: new Date() });
    });
    const newestFirst = () =>
      [...truth].sort((a, b) => Date.parse(b.start_date) - Date.parse(a.start_date) || b.id - a.id).map((a) => a.id);

    it('pages newest first with an opaque cursor until the end, each activity once', async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `limit=10${cursor ? `&cursor=${cursor}` : ''}`;
        const response = await api.fetch(`/athletes/${id}/activities?${query}`, { admin: true });
        expect(response.status).toBe(200);
        const body = (await response.json()) as PageBody;
        expect(body.activities.length).toBeLessThanOrEqual(10);
        seen.push(...body.activities.map((a) => a.id));
        cursor = body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(5);
      expect(seen).toEqual(newestFirst());
    });

    it('filters by after/before (ISO or epoch seconds)', async () => {
      const order = newestFirst();
      const byId = new Map(truth.map((a) => [a.id, a]));
      const newer = byId.get(order[10]!)!;
      const older = byId.get(order[20]!)!;
      const iso = await api.fetch(`/athletes/${id}/activities?limit=200&after=${older.start_date}&before=${newer.start_date}`, { admin: true });
      const body = (await iso.json()) as PageBody;
      const expected = truth
        .filter((a) => Date.parse(a.start_date) > Date.parse(older.start_date) && Date.parse(a.start_date) < Date.parse(newer.start_date))
        .map((a) => a.id);
      expect(body.activities.map((a) => a.id).sort()).toEqual(expected.sort());
      const epoch = await api.fetch(`/athletes/${id}/activities?limit=200&after=${Date.parse(older.start_date) / 1000}`, { admin: true });
      const epochBody = (await epoch.json()) as PageBody;
      expect(epochBody.activities.every((a) => Date.parse(a.startDate) > Date.parse(older.start_date))).toBe(true);
      expect(epochBody.activities.length).toBe(20);
    });

    it('includes the Strava JSON only on request', async () => {
      const plain = (await (await api.fetch(`/athletes/${id}/activities?limit=1`, { admin: true })).json()) as PageBody;
      expect(plain.activities[0]!.raw).toBeUndefined();
      const raw = (await (await api.fetch(`/athletes/${id}/activities?limit=1&include=raw`, { admin: true })).json()) as PageBody;
      expect(raw.activities[0]!.raw).toMatchObject({ id: raw.activities[0]!.id });
    });

    it('rejects limit over 200, bad cursors and bad dates', async () => {
      for (const query of ['limit=201', 'limit=0', 'limit=x', 'cursor=nonsense', 'after=yesterday', 'include=everything']) {
        const response = await api.fetch(`/athletes/${id}/activities?${query}`, { admin: true });
        expect(response.status, query).toBe(400);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
      }
      expect((await api.fetch(`/athletes/${id}/activities?limit=200`, { admin: true })).status).toBe(200);
    });
  });

  describe('sync now, focus, disconnect', () => {
    it('POST /sync returns the sync result', async () => {
      const id = await connectedAthlete(4);
      started.push(id);
      const response = await api.fetch(`/athletes/${id}/sync`, { method: 'POST', admin: true });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { status: string; result: { added: number; requests: number } };
      expect(body.status).toBe('done');
      expect(body.result).toMatchObject({ added: expect.any(Number), updated: expect.any(Number), deleted: expect.any(Number) });
      await waitFor(
        async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from activities where athlete_id = ${id}`)[0]!.n,
        (n) => n === 4,
        { timeoutMs: 20_000, what: 'the four activities' },
      );
    });

    it('POST /sync answers 202 with an outcome URL when the sync outlives SYNC_NOW_WAIT', async () => {
      const id = await connectedAthlete(2);
      started.push(id);
      const wait = api.config.SYNC_NOW_WAIT;
      api.config.SYNC_NOW_WAIT = 1;
      let pending: { status: string; syncId: string; outcomeUrl: string };
      try {
        const response = await api.fetch(`/athletes/${id}/sync`, { method: 'POST', admin: true });
        expect(response.status).toBe(202);
        pending = (await response.json()) as typeof pending;
        expect(response.headers.get('location')).toBe(pending.outcomeUrl);
      } finally {
        api.config.SYNC_NOW_WAIT = wait;
      }
      expect(pending.status).toBe('pending');
      const outcome = await eventually(async () => {
        const response = await api.fetch(pending.outcomeUrl, { admin: true });
        return response.status === 200 ? ((await response.json()) as { status: string; result: object }) : undefined;
      }, 20_000, 'the sync outcome');
      expect(outcome.status).toBe('done');
      expect(outcome.result).toMatchObject({ added: expect.any(Number) });
      expect((await api.fetch(`/athletes/${id}/sync/bm9wZQ`, { admin: true })).status).toBe(404);
      const forged = Buffer.from(JSON.stringify({ u: 'sync-now-unknown', t: 0 })).toString('base64url');
      const unknown = await api.fetch(`/athletes/${id}/sync/${forged}`, { admin: true });
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('sync_not_found');
    });

    it('POST /focus -> 202', async () => {
      const id = await connectedAthlete(1);
      started.push(id);
      const response = await api.fetch(`/athletes/${id}/focus`, { method: 'POST', admin: true });
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ athleteId: id, status: 'accepted' });
      const status = await waitFor(
        async () => (await (await api.fetch(`/athletes/${id}`, { admin: true })).json()) as { workflow: { live?: { counters?: { focusSignals: number } } } },
        (body) => (body.workflow.live?.counters?.focusSignals ?? 0) >= 1,
        { timeoutMs: 20_000, what: 'the focus signal to be counted' },
      );
      expect(status).toBeDefined();
    });

    it('DELETE deauthorizes at Strava and purges; a revoked athlete then gets 409 on sync', async () => {
      const id = await connectedAthlete(3);
      started.push(id);
      expect((await api.fetch(`/athletes/${id}/sync`, { method: 'POST', admin: true })).status).toBe(200);
      const deauthorizeCalls = async () =>
        Object.values((await emulator.control.counters()).requests['POST /oauth/deauthorize'] ?? {}).reduce((a, b) => a + b, 0);
      const before = await deauthorizeCalls();
      const response = await api.fetch(`/athletes/${id}`, { method: 'DELETE', admin: true });
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ athleteId: id, status: 'disconnecting' });
      await waitFor(() => getAthlete(db.sql, id), (athlete) => athlete?.state === 'revoked', { timeoutMs: 20_000, what: 'the purge' });
      expect((await db.sql`select 1 from activities where athlete_id = ${id}`).count).toBe(0);
      expect((await db.sql`select 1 from tokens where athlete_id = ${id}`).count).toBe(0);
      expect(await deauthorizeCalls()).toBe(before + 1);
      const again = await api.fetch(`/athletes/${id}`, { method: 'DELETE', admin: true });
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ status: 'already_disconnected' });
      const sync = await api.fetch(`/athletes/${id}/sync`, { method: 'POST', admin: true });
      expect(sync.status).toBe(409);
      expect(((await sync.json()) as { error: { code: string } }).error.code).toBe('athlete_revoked');
      for (const action of ['pause', 'resume']) {
        const refused = await api.fetch(`/athletes/${id}/${action}`, { method: 'POST', admin: true });
        expect(refused.status).toBe(409);
        expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('athlete_revoked');
      }
    });
  });

  describe('GET /athletes/:id/events', () => {
    it('streams a change within a second of the upsert, with heartbeats', async () => {
      const id = uniqueAthleteId();
      await emulator.control.createAthlete({ id, activities: 2 });
      await upsertConnectedAthlete(db.sql, id, ['read', 'activity:read_all']);
      const truth = (await emulator.control.groundTruth(id, { readAll: true })) as unknown as SummaryActivity[];
      const abort = new AbortController();
      const response = await api.fetch(`/athletes/${id}/events`, { admin: true, signal: abort.signal });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const readUntil = async (pattern: RegExp, timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        while (!pattern.test(text)) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) throw new Error(`no ${pattern} within ${timeoutMs} ms; got: ${text}`);
          const chunk = await Promise.race([reader.read(), new Promise<'late'>((r) => setTimeout(() => r('late'), remaining))]);
          if (chunk === 'late') continue;
          if (chunk.done) throw new Error('stream ended');
          text += chunk.value;
        }
      };
      await readUntil(/event: ready/, 2_000);
      // Another athlete's change must not show up on this stream.
      const other = uniqueAthleteId();
      await upsertConnectedAthlete(db.sql, other, ['read']);
      const started = Date.now();
      await upsertActivities(db.sql, id, truth, { detailLevel: 2, observedAt: new Date() });
      await readUntil(/event: change\ndata: .*\n\n/, 1_000);
      expect(Date.now() - started).toBeLessThan(1_000);
      const data = JSON.parse(/event: change\ndata: (.*)\n/.exec(text)![1]!) as { athleteId: number; kind: string; activityIds: number[] };
      expect(data).toMatchObject({ athleteId: id, kind: 'activities_upserted' });
      expect(data.activityIds.sort()).toEqual(truth.map((a) => a.id).sort());
      await readUntil(/: heartbeat/, 2_000);
      abort.abort();
      await waitFor(() => api.app.streams.size, (open) => open === 0, { timeoutMs: 2_000, what: 'the stream to be released' });
    });
  });
});
