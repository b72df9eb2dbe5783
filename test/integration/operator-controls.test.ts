import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { listEvents } from '../../src/db/repositories/webhook-inbox.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { AthleteGateway, athleteStartOptions, athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import type { AthleteStatus } from '../../src/workflows/athlete-state.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { settingsVersionKey, syncStateKey } from '../../src/workflows/search-attributes.js';
import { connectAthlete, eventually, startApi, startWorker, waitFor, type ApiHarness } from '../api/helpers/api-harness.js';
import { useTestDatabase } from '../helpers/database.js';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { connectDevServer, settledHistoryLength, uniqueTaskQueue, withWorker, type DevServerHandles } from '../helpers/temporal.js';
import { FakeActivities } from '../workflows/fake-activities.js';
import { appFocusSignal, settingsSignal, statusQuery } from '../../src/workflows/messages.js';
import { expectConverged, listRequests } from './helpers/ground-truth.js';
import { FIXTURES_DIR } from './workflow-harness.js';

/**
 * The operator's controls on the real stack: the API on a real port, a worker with the real activities, the
 * Temporal dev server, PostgreSQL, and the emulator delivering real webhooks to the API (inbox, relay, signal).
 * Pause and resume one athlete, the fleet-wide pause and a backfill interval change through PUT /admin/settings,
 * what the Temporal UI shows, and the visibility queries of docs/operations.md. The steps build on each other.
 */

const db = useTestDatabase();
const HOUR = 3_600_000;
/** The settings pass of this test's API (30 s in production): a workflow a change missed gets it within this. */
const PASS_MS = 2_000;
const OPERATIONS_MD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'operations.md');

interface StatusBody {
  athleteId: number;
  state: string;
  pausedBy: string | null;
  source: 'workflow' | 'database';
  workflow: { status: string; live?: AthleteStatus };
}
interface SettingsBody {
  settings: { backfillIntervalMs: number; focusStaleAfterMs: number; paused: boolean };
  version: number;
}

describe('operator controls on the real stack', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  /** Athletes whose workflows run on this test's task queue. */
  const running: number[] = [];
  let version = 0;
  /** The athlete whose workflow started without settings (it gets them from a pass). */
  let missed = 0;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 41, webhookRetryDelayMs: 200 })]);
    api = await startApi({ db, dev, emulator, relay: true, appOptions: { settingsPassMs: PASS_MS }, env: { BACKFILL_ADAPTIVE: 'false' } });
    worker = await startWorker(api, dev, db.sql, emulator);
    expect((await api.fetch('/admin/subscription', { method: 'POST', admin: true })).status).toBe(201);
  });
  afterAll(async () => {
    for (const id of running) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const post = (path: string) => api.fetch(path, { method: 'POST', admin: true });
  const putSettings = async (body: object): Promise<SettingsBody> => {
    const response = await api.fetch('/admin/settings', { method: 'PUT', admin: true, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    return (await response.json()) as SettingsBody;
  };
  const status = async (id: number) => (await (await api.fetch(`/athletes/${id}`, { admin: true })).json()) as StatusBody;
  const waitStatus = (id: number, done: (s: StatusBody) => boolean, what: string, timeoutMs = 30_000) =>
    waitFor(() => status(id), done, { timeoutMs, intervalMs: 200, what: `athlete ${id}: ${what}` });
  const live = (s: StatusBody) => s.workflow.live;
  const handle = (id: number) => dev.client.workflow.getHandle(athleteWorkflowId(id));
  const historyLength = async (id: number) => (await handle(id).describe()).historyLength;
  const settledLength = (id: number) => settledHistoryLength(handle(id));
  /** Every request the emulator served (API and OAuth, any status): a paused athlete adds none. */
  const requestsServed = async () =>
    Object.values((await emulator.control.counters()).requests).reduce((sum, byStatus) => sum + Object.values(byStatus).reduce((a, b) => a + b, 0), 0);
  const storedCount = async (id: number) => (await db.sql<[{ n: number }]>`select count(*)::int as n from activities where athlete_id = ${id}`)[0].n;
  const idleWith = (s: StatusBody) => s.source === 'workflow' && s.state === 'idle' && live(s)!.pendingEvents === 0 && live(s)!.import.done;

  /** Connects an athlete and starts its workflow through the API (focus: signal-with-start), until it is idle. */
  async function startAthlete(activities: number): Promise<number> {
    const id = await connectAthlete(api, emulator, db.sql, activities);
    running.push(id);
    expect((await post(`/athletes/${id}/focus`)).status).toBe(202);
    await waitStatus(id, idleWith, 'imported and idle');
    await expectConverged(db.sql, emulator, id);
    return id;
  }

  /** Changes two activities and creates one at "Strava"; resolves once the API recorded their webhooks. */
  async function changeAtStrava(id: number): Promise<void> {
    const before = (await listEvents(db.sql, { ownerId: id })).length;
    const [existing] = await emulator.control.groundTruth(id);
    await emulator.control.createActivity(id, { sport_type: 'Run' });
    await emulator.control.updateActivity(existing!.id, { sport_type: existing!.sport_type === 'Ride' ? 'Run' : 'Ride' });
    await emulator.control.webhooksSettled(15_000);
    await waitFor(
      () => listEvents(db.sql, { ownerId: id }),
      (events) => events.length === before + 2 && events.every((e) => e.outcome === 'forwarded'),
      { timeoutMs: 15_000, what: 'both webhooks recorded and forwarded' },
    );
  }

  it('an operator pause stops every Strava call for the athlete while its webhooks are recorded; resume catches up with one sync', async () => {
    const id = await startAthlete(4);
    const pause = await post(`/athletes/${id}/pause`);
    expect(pause.status).toBe(202);
    expect(await pause.json()).toEqual({ athleteId: id, status: 'pausing', message: expect.any(String) });
    const paused = await waitStatus(id, (s) => s.state === 'paused', 'paused');
    expect(paused.pausedBy).toBe('operator');
    expect(live(paused)!.operatorPausedAt).toEqual(expect.any(String));
    await waitFor(() => getAthlete(db.sql, id), (row) => row?.state === 'paused', { timeoutMs: 10_000, what: 'athletes.state paused' });
    expect((await handle(id).describe()).typedSearchAttributes.get(syncStateKey)).toBe('paused');

    const served = await requestsServed();
    await changeAtStrava(id);
    expect((await post(`/athletes/${id}/focus`)).status).toBe(202);
    const sync = await post(`/athletes/${id}/sync`);
    expect(sync.status).toBe(409);
    expect(await sync.json()).toEqual({ error: { code: 'sync_paused', message: expect.stringContaining(`POST /athletes/${id}/resume`) } });
    // The workflow has taken in both events and the focus (its own counters) and still waits ...
    const holding = await waitStatus(id, (s) => live(s)!.pendingEvents === 2 && live(s)!.counters.focusSignals === 2, 'events and focus recorded');
    expect(holding.state).toBe('paused');
    // ... and Strava heard nothing: not right away, nor after a grace period for a call that would follow them.
    expect(await requestsServed()).toBe(served);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await requestsServed()).toBe(served);

    const lists = await listRequests(emulator);
    const resume = await post(`/athletes/${id}/resume`);
    expect(resume.status).toBe(202);
    expect(await resume.json()).toMatchObject({ athleteId: id, status: 'resuming' });
    const resumed = await waitStatus(id, (s) => idleWith(s) && live(s)!.counters.backfills === 1, 'caught up');
    expect(resumed.pausedBy).toBeNull();
    await expectConverged(db.sql, emulator, id);
    expect((await listRequests(emulator)) - lists).toBe(1);
    await waitFor(() => getAthlete(db.sql, id), (row) => row?.state === 'idle', { timeoutMs: 10_000, what: 'athletes.state idle' });
  });

  it('the fleet-wide pause (PUT /admin/settings) holds every athlete at once; lifting it catches each up with one sync', async () => {
    await startAthlete(2);
    const paused = await putSettings({ paused: true });
    expect(paused.settings.paused).toBe(true);
    version = paused.version;
    for (const id of running) await waitStatus(id, (s) => s.state === 'paused' && s.pausedBy === 'fleet', 'paused fleet-wide', 20_000);

    const served = await requestsServed();
    for (const id of running) await changeAtStrava(id);
    const sync = await post(`/athletes/${running[0]}/sync`);
    expect(sync.status).toBe(409);
    expect(((await sync.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'sync_paused', message: expect.stringContaining('fleet-wide') });
    for (const id of running) await waitStatus(id, (s) => live(s)!.pendingEvents === 2, 'events recorded');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await requestsServed()).toBe(served);

    const lists = await listRequests(emulator);
    const lifted = await putSettings({ paused: false });
    version = lifted.version;
    for (const id of running) {
      await waitStatus(id, (s) => idleWith(s) && s.pausedBy === null && live(s)!.settings.version === version, 'caught up after the fleet pause');
      await expectConverged(db.sql, emulator, id);
    }
    expect((await listRequests(emulator)) - lists).toBe(running.length);
  });

  it('a backfill interval change reaches running workflows within the documented time; a pass adds nothing to a workflow that has it', async () => {
    const id = running[0]!;
    // Passes run every PASS_MS; a workflow with the current version is never signalled.
    const quiet = await settledLength(id);
    await new Promise((resolve) => setTimeout(resolve, 3 * PASS_MS + 500));
    expect(await historyLength(id)).toBe(quiet);

    const changed = await putSettings({ backfillIntervalMs: 6 * HOUR });
    version = changed.version;
    const at = Date.now();
    for (const athlete of running) {
      // The documented bound is a minute (30 s passes in production; here the change is sent at once).
      const applied = await waitStatus(
        athlete,
        (s) => live(s)!.settings.version === version && live(s)!.nextBackfillAt !== null && s.state === 'idle',
        'the new interval applied and the backfill re-planned',
        60_000,
      );
      expect(live(applied)!.settings).toEqual({ version, backfillIntervalMs: 6 * HOUR, focusStaleAfterMs: api.config.FOCUS_STALE_AFTER, fleetPaused: false });
      // Re-planned with the new interval (±10 % jitter) from the moment the change arrived.
      const inMs = Date.parse(live(applied)!.nextBackfillAt!) - at;
      expect(inMs).toBeGreaterThan(0.9 * 6 * HOUR - 60_000);
      expect(inMs).toBeLessThan(1.1 * 6 * HOUR + 60_000);
      expect((await handle(athlete).describe()).typedSearchAttributes.get(settingsVersionKey)).toBe(version);
    }
    const settled = await settledLength(id);
    await new Promise((resolve) => setTimeout(resolve, 3 * PASS_MS + 500));
    expect(await historyLength(id)).toBe(settled);
    const audit = api.logs.map((line) => JSON.parse(line) as { audit?: string; changes?: object }).filter((line) => line.audit === 'settings_changed');
    expect(audit.at(-1)!.changes).toEqual({ backfillIntervalMs: { from: api.config.BACKFILL_INTERVAL, to: 6 * HOUR } });
  });

  it('a workflow the change missed gets it at the next pass; a workflow started now starts with the current settings', async () => {
    // Started without settings, as by code from before them or by a process that has not loaded them yet.
    missed = await connectAthlete(api, emulator, db.sql, 1);
    running.push(missed);
    await dev.client.workflow.start(athleteSync, athleteStartOptions(api.config, missed));
    const caught = await waitStatus(missed, (s) => live(s)?.settings.version === version, 'the settings from a pass', 4 * PASS_MS + 10_000);
    expect(live(caught)!.settings.backfillIntervalMs).toBe(6 * HOUR);

    const fresh = await startAthlete(1);
    expect(live(await status(fresh))!.settings).toMatchObject({ version, backfillIntervalMs: 6 * HOUR });
    const settingsSignals = async (athlete: number) =>
      ((await handle(athlete).fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'settings').length;
    expect(await settingsSignals(missed)).toBe(1);
    expect(await settingsSignals(fresh)).toBe(0);
  });

  it('shows a static summary and current details (ids and counts only) that the client reads back', async () => {
    const id = running[0]!;
    const description = await handle(id).describe();
    expect(await description.staticSummary()).toBe(`Strava athlete ${id}: activity sync`);
    expect(await description.staticDetails()).toContain('SettingsVersion');
    const metadata = await handle(id).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    const details = metadata.currentDetails ?? '';
    const s = live(await status(id))!;
    expect(details.split('\n')).toEqual([
      expect.stringMatching(/^\*\*idle\*\* · resting; wakes at \d{4}-/),
      `- next backfill: ${s.nextBackfillAt}`,
      `- activities stored: ${await storedCount(id)}`,
      `- last sync: ${s.lastSyncAt} (backfill)`,
      '- pending events: 0',
      '- last error: none',
      `- settings version: ${version}`,
    ]);
    const athlete = await emulator.control.getAthlete(id);
    const names = [athlete.firstname, athlete.lastname, ...(await emulator.control.groundTruth(id)).map((a) => a.name)];
    for (const name of names) expect(details).not.toContain(name);

    await post(`/athletes/${id}/pause`);
    await waitFor(
      async () => (await handle(id).query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '',
      (text) => text.startsWith('**paused** · paused: no Strava call until resumed') && text.includes('- paused by: operator since'),
      { timeoutMs: 10_000, what: 'the paused details' },
    );
  });

  it('answers every visibility query of docs/operations.md through the client list API', async () => {
    // Fixtures: running[0] is paused (previous test); one athlete needs to reconnect; one is paused before its
    // workflow even started (never synced); one workflow was terminated.
    const [pausedId] = running as [number];
    const reauth = await startAthlete(1);
    // Its tokens are gone from the vault (a revoked grant would purge instead): the next call needs a reconnect.
    await db.sql`delete from tokens where athlete_id = ${reauth}`;
    expect((await post(`/athletes/${reauth}/sync`)).status).toBe(409);
    await waitStatus(reauth, (s) => s.state === 'needs_reauth', 'needs_reauth');
    const neverSynced = await connectAthlete(api, emulator, db.sql, 1);
    running.push(neverSynced);
    expect((await post(`/athletes/${neverSynced}/pause`)).status).toBe(202);
    await waitStatus(neverSynced, (s) => s.state === 'paused' && s.pausedBy === 'operator', 'started paused');
    const terminated = missed;
    await handle(terminated).terminate('test: a terminated workflow');
    const alive = running.filter((id) => id !== terminated);

    const text = await readFile(OPERATIONS_MD, 'utf8');
    const section = text.slice(text.indexOf('### Visibility queries'), text.indexOf('### Pausing'));
    const rows = [...section.matchAll(/^\| (.+?) \| `(.+)` \|$/gm)].map((m) => ({ question: m[1]!, query: m[2]! }));
    const expectations: [RegExp, number[]][] = [
      [/^StravaAthleteId = /, [pausedId]],
      [/^SyncState = "needs_reauth"$/, [reauth]],
      [/^SyncState = "paused"$/, [pausedId, neverSynced]],
      [/^SyncState = "rate_limited"$/, []],
      [/^SyncState = "importing"$/, []],
      [/^LastSyncAt < /, running.filter((id) => id !== neverSynced)], // closed ones too: the query names no status
      [/LastSyncAt IS NULL$/, [neverSynced]],
      [/^SettingsVersion < /, []],
      [/ExecutionStatus IN \("Failed", "Terminated"\)$/, [terminated]],
      [/^WorkflowType = "athleteSync" AND ExecutionStatus = "Running"$/, alive],
    ];
    expect(rows.length).toBe(expectations.length);
    const scope = `TaskQueue = '${api.config.TEMPORAL_TASK_QUEUE}'`;
    for (const { question, query } of rows) {
      const expectation = expectations.find(([pattern]) => pattern.test(query));
      expect(expectation, `an expectation for "${query}"`).toBeDefined();
      // The documented examples stand for the operator's values: ours here.
      const ours = query
        .replace('"134815"', `"${pausedId}"`)
        .replace(/"\d{4}-\d\d-\d\dT[\d:]+Z"/, `"${new Date(Date.now() + 60_000).toISOString()}"`)
        .replace(/SettingsVersion < \d+/, `SettingsVersion < ${version}`);
      const expected = [...expectation![1]].sort();
      await waitFor(
        async () => {
          const ids: number[] = [];
          for await (const workflow of dev.client.workflow.list({ query: `(${ours}) AND ${scope}` })) ids.push(Number(workflow.workflowId.replace('athlete-', '')));
          return ids.sort();
        },
        (ids) => JSON.stringify(ids) === JSON.stringify(expected),
        { timeoutMs: 15_000, intervalMs: 250, what: `"${question}": ${ours}` },
      );
    }

    // The counts of the same section.
    const paused = await dev.client.workflow.count(`WorkflowType = "athleteSync" AND ExecutionStatus = "Running" AND SyncState = "paused" AND ${scope}`);
    expect(paused.count).toBe(2);
    const byStatus = await dev.client.workflow.count(`WorkflowType = "athleteSync" AND ${scope} GROUP BY ExecutionStatus`);
    expect(Object.fromEntries(byStatus.groups.map((group) => [String(group.groupValues[0]), group.count]))).toEqual({ Running: alive.length, Terminated: 1 });
  });

  it('records histories with every operator message for the replay test (RECORD_HISTORIES=1)', async () => {
    // running[0]: paused, resumed, fleet-paused and resumed, a new interval, paused again; the "missed" athlete
    // (terminated): its settings came by a pass. Recorded once; test/workflows/replay.test.ts replays them.
    const histories = [running[0]!, missed].map(async (id, index) => ({ index, json: historyToJSON(await handle(id).fetchHistory()) }));
    for (const { index, json } of await Promise.all(histories)) {
      expect(json).toMatch(/"signalName": *"settings"/);
      if (process.env.RECORD_HISTORIES === '1') {
        await mkdir(FIXTURES_DIR, { recursive: true });
        await writeFile(join(FIXTURES_DIR, `controls-${index}-0.json`), json);
      }
    }
  });

  it('leaves every running workflow on the current settings version, whatever state it is in (paused, needs_reauth)', async () => {
    const current = (await (await api.fetch('/admin/settings', { admin: true })).json()) as SettingsBody;
    expect(current.version).toBe(version);
    await eventually(async () => {
      for (const id of running) {
        const s = await status(id);
        if (s.workflow.status === 'running' && live(s)!.settings.version !== version) return undefined;
      }
      return true;
    }, 20_000, 'every running workflow on the current settings version');
  });

  it('keeps the settings and SettingsVersion across continue-as-new, so a pass does not signal the new run', async () => {
    // Fake activities on a task queue of its own: only the workflow's own bookkeeping matters here.
    const taskQueue = uniqueTaskQueue('controls-can');
    const config = { ...api.config, TEMPORAL_TASK_QUEUE: taskQueue };
    const athleteId = 7_000_000_000 + Math.floor(Math.random() * 1_000_000);
    const current = { version: 3, backfillIntervalMs: 5 * HOUR, focusStaleAfterMs: 600_000, paused: false };
    const started = await dev.client.workflow.start(athleteSync, athleteStartOptions(config, athleteId, { continueAsNewAfterEvents: 60 }));
    await withWorker({ connection: dev.nativeConnection, taskQueue, activities: new FakeActivities().activities() }, async () => {
      try {
        await started.signal(settingsSignal, current);
        for (let i = 0; i < 40; i++) await started.signal(appFocusSignal);
        const latest = dev.client.workflow.getHandle(started.workflowId);
        await waitFor(() => latest.describe(), (d) => d.runId !== started.firstExecutionRunId, { timeoutMs: 20_000, what: 'a continue-as-new' });
        expect((await latest.query(statusQuery)).settings).toEqual({ version: 3, backfillIntervalMs: 5 * HOUR, focusStaleAfterMs: 600_000, fleetPaused: false });
        expect((await latest.describe()).typedSearchAttributes.get(settingsVersionKey)).toBe(3);
        expect(await new AthleteGateway(dev.client, config).sendSettings(current, 4)).toEqual({ signalled: 0, failed: 0 });
      } finally {
        await started.terminate('test done').catch(() => {});
      }
    });
  });
});
