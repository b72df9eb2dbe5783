import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHealthSchema, syncRunPageSchema, type AdminHealth } from '../../src/api/admin/sync-history-schemas.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteStartOptions } from '../../src/temporal/athlete-gateway.js';
import { athleteSync } from '../../src/workflows/athlete-sync.js';
import { connectAthlete, startApi, waitFor, type ApiHarness } from '../api/helpers/api-harness.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';
import { FIXTURES_DIR } from './workflow-harness.js';

/**
 * The sync history and the four health numbers moving with real parts: the API receiving the emulator's webhooks
 * (relay on), a worker in its own process wired like `strava-sync worker` (metrics endpoint on), the shared Temporal
 * dev server and PostgreSQL. The steps build on each other (the numbers are the fleet's), so they run in order.
 */

const db = useTestDatabase();
const HOUR = 3_600_000;
const LATE_AFTER_MS = 5_000;
const BACKFILL_INTERVAL_MS = 3_000;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}
const total = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

describe('sync history and health numbers on real Temporal, PostgreSQL and the emulator', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: WorkerProcess;
  let workerEnv: Record<string, string>;
  let metricsPort: number;
  let athleteA: number;
  let athleteB: number;
  const created: number[] = [];

  const health = async (): Promise<AdminHealth> => {
    const response = await api.fetch('/admin/health', { admin: true });
    expect(response.status).toBe(200);
    return adminHealthSchema.parse(await response.json());
  };
  const runsOf = (athleteId: number) =>
    db.sql<{ activity: string; trigger: string; outcome: string; failureType: string | null; willRetry: boolean; changes: number; eventToRowMs: number | null; receiptToRowMs: number | null; dueAt: Date | null; startedAt: Date }[]>`
      select activity, trigger, outcome, failure_type as "failureType", will_retry as "willRetry", changes,
             event_to_row_ms as "eventToRowMs", receipt_to_row_ms as "receiptToRowMs", due_at as "dueAt", started_at as "startedAt"
      from sync_runs where athlete_id = ${athleteId} order by id`;
  const refreshesOf = async (athleteId: number) =>
    (await db.sql<{ outcome: string }[]>`select outcome from token_refreshes where athlete_id = ${athleteId} order by id`).map((r) => r.outcome);
  const expireTokens = (athleteId: number) => db.sql`update tokens set expires_at = now() - interval '1 hour' where athlete_id = ${athleteId}`;
  const syncNow = (athleteId: number) => api.fetch(`/athletes/${athleteId}/sync`, { method: 'POST', admin: true });
  const startWorkflow = (athleteId: number, backfillIntervalMs: number) =>
    dev.client.workflow.start(athleteSync, athleteStartOptions(api.config, athleteId, { backfillIntervalMs, backfillJitter: 0, adaptiveBackfill: false }));

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([
      connectDevServer(),
      startEmulator({ seed: 91, webhookRetryDelayMs: 200, rateLimits: { read: { fifteenMinute: 600, daily: 30_000 }, overall: { fifteenMinute: 1_200, daily: 60_000 } } }),
    ]);
    api = await startApi({ db, dev, emulator, relay: true, env: { BACKFILL_LATE_AFTER: `${LATE_AFTER_MS / 1000}s`, BACKFILL_INTERVAL: `${BACKFILL_INTERVAL_MS / 1000}s` } });
    metricsPort = await freePort();
    workerEnv = {
      DATABASE_URL: db.url,
      TEMPORAL_TASK_QUEUE: api.config.TEMPORAL_TASK_QUEUE,
      STRAVA_API_URL: emulator.apiUrl,
      STRAVA_OAUTH_URL: emulator.oauthUrl,
      STRAVA_CLIENT_ID: emulator.clientId,
      STRAVA_CLIENT_SECRET: emulator.clientSecret,
      // The fleet's backfill budget must not stretch the test's 3 s backfill interval.
      STRAVA_READ_LIMIT_DAILY: '100000000',
      // Short, so an emulator latency fault turns a token refresh into a timeout (a network failure).
      STRAVA_REQUEST_TIMEOUT: '1s',
      WORKER_METRICS: '1',
      WORKER_METRICS_PORT: String(metricsPort),
    };
    worker = await startWorkerProcess(workerEnv);
    const subscribed = await api.fetch('/admin/subscription', { method: 'POST', admin: true });
    expect(subscribed.status).toBe(201);
  });
  afterAll(async () => {
    for (const id of [athleteA, athleteB]) if (id) await dev.client.workflow.getHandle(`athlete-${id}`).terminate('test done').catch(() => {});
    await emulator?.control.setFaults({ webhookDropRate: 0, apiLatencyMs: 0, appInactive: false }).catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  it('1. the history import is recorded, as neither delivered nor repaired', async () => {
    athleteA = await connectAthlete(api, emulator, db.sql, 30);
    await startWorkflow(athleteA, HOUR);
    const runs = await waitFor(() => runsOf(athleteA), (rows) => rows.some((r) => r.activity === 'import_page'), { timeoutMs: 30_000, what: 'the import page' });
    expect(runs.filter((r) => r.activity === 'import_page')).toEqual([expect.objectContaining({ trigger: 'import_page', outcome: 'ok', changes: 0 })]);
    // The import finished: the next backfill is planned an hour ahead (not due in any window yet).
    await waitFor(() => db.sql`select due_at from backfill_plans where athlete_id = ${athleteA}`, (rows) => rows.length === 1, { what: 'the backfill plan' });
    const body = await health();
    expect(body.windows['1h'].webhookDelivery).toEqual({ viaWebhook: 0, repairs: 0, rate: null });
    expect(body.windows['1h'].backfillCompletion.due).toBe(0);
  });

  it('2. webhooks deliver changes: delivery rate 1, event -> row and receipt -> row latencies recorded', async () => {
    for (let i = 0; i < 3; i++) created.push((await emulator.control.createActivity(athleteA)).id);
    const fetched = await waitFor(
      async () => (await runsOf(athleteA)).filter((r) => r.activity === 'fetch_activity' && r.changes === 1),
      (rows) => rows.length === 3,
      { timeoutMs: 30_000, what: 'three webhook fetches that wrote a change' },
    );
    for (const run of fetched) {
      expect(run).toMatchObject({ trigger: 'webhook', outcome: 'ok' });
      // Generous bounds (a loaded machine), but both measured, and the receipt after the event (1 s resolution).
      expect(run.eventToRowMs).toBeGreaterThanOrEqual(0);
      expect(run.eventToRowMs).toBeLessThan(60_000);
      expect(run.receiptToRowMs).toBeGreaterThanOrEqual(0);
      expect(run.receiptToRowMs!).toBeLessThanOrEqual(run.eventToRowMs! + 1_000);
    }
    const body = await health();
    const hour = body.windows['1h'];
    expect(hour.webhookDelivery).toEqual({ viaWebhook: 3, repairs: 0, rate: 1 });
    expect(hour.latency.eventToRow?.count).toBe(3);
    expect(hour.latency.receiptToRow?.count).toBe(3);
    expect(hour.latency.eventToRow!.p50).toBeLessThanOrEqual(hour.latency.eventToRow!.p99!);
    expect(body.latencyBuckets.reduce((sum, b) => sum + b.count, 0)).toBe(3);
  });

  it('3. dropped webhooks: the changes become repairs of the next sync and the delivery rate falls', async () => {
    await emulator.control.setFaults({ webhookDropRate: 1 });
    for (let i = 0; i < 2; i++) created.push((await emulator.control.createActivity(athleteA)).id);
    await emulator.control.updateActivity(created[0]!, { name: 'Renamed while the webhooks were lost' });
    await emulator.control.webhooksSettled();
    await emulator.control.setFaults({ webhookDropRate: 0 });

    const response = await syncNow(athleteA);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { result: { added: number } }).result.added).toBe(2);
    const manual = (await runsOf(athleteA)).filter((r) => r.trigger === 'manual');
    expect(manual).toEqual([expect.objectContaining({ activity: 'sync_window', outcome: 'ok', changes: 3 })]);
    const hour = (await health()).windows['1h'];
    expect(hour.webhookDelivery).toEqual({ viaWebhook: 3, repairs: 3, rate: 0.5 });
    // Repairs are no latency sample: only webhook-triggered changes are.
    expect(hour.latency.eventToRow?.count).toBe(3);
  });

  it('4. token refreshes: success, network failure (timeout) and refusal are told apart and the rate falls', async () => {
    // An expired access token: the next Strava call refreshes it.
    await expireTokens(athleteA);
    expect((await syncNow(athleteA)).status).toBe(200);
    expect(await refreshesOf(athleteA)).toEqual(['succeeded']);
    expect((await health()).windows['1h'].tokenRefresh).toEqual({ attempted: 1, succeeded: 1, refused: 0, networkFailed: 0, rate: 1 });

    // Strava answers slower than STRAVA_REQUEST_TIMEOUT: the refresh times out; once it answers again, the retry works.
    await emulator.control.setFaults({ apiLatencyMs: 1_500 });
    await expireTokens(athleteA);
    const slowSync = syncNow(athleteA);
    await waitFor(() => refreshesOf(athleteA), (outcomes) => outcomes.includes('network_failed'), { timeoutMs: 30_000, what: 'a refresh that timed out' });
    await emulator.control.setFaults({ apiLatencyMs: 0 });
    expect([200, 202]).toContain((await slowSync).status);
    const outcomes = await waitFor(() => refreshesOf(athleteA), (o) => o.filter((x) => x === 'succeeded').length === 2, { timeoutMs: 30_000, what: 'the retried refresh' });
    const networkFailed = outcomes.filter((o) => o === 'network_failed').length;
    // The attempt that timed out is in the history as a failure Temporal retries.
    expect((await runsOf(athleteA)).some((r) => r.trigger === 'manual' && r.outcome === 'failed' && r.failureType === 'StravaServerError' && r.willRetry)).toBe(true);

    // The athlete revoked the app at Strava: the refresh token is refused.
    await emulator.control.revokeAthlete(athleteA);
    await expireTokens(athleteA);
    expect((await syncNow(athleteA)).status).toBe(409);
    expect(await refreshesOf(athleteA)).toEqual([...outcomes, 'refused']);
    const manualFailures = (await runsOf(athleteA)).filter((r) => r.trigger === 'manual' && r.failureType === 'NeedsReauth');
    expect(manualFailures).toEqual([expect.objectContaining({ outcome: 'failed', willRetry: false })]);

    const attempted = 3 + networkFailed;
    expect((await health()).windows['1h'].tokenRefresh).toEqual({ attempted, succeeded: 2, refused: 1, networkFailed, rate: 2 / attempted });
  });

  it("5. the worker's /metrics counts runs, changes, latencies and refreshes, without athlete ids", async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const samples = parseMetrics(text);
    expect(total(samples, 'strava_sync_runs_total', { trigger: 'webhook', outcome: 'ok', failure_type: 'none' })).toBeGreaterThanOrEqual(3);
    expect(total(samples, 'strava_sync_runs_total', { trigger: 'import_page', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'strava_sync_runs_total', { trigger: 'manual', outcome: 'failed', failure_type: 'NeedsReauth' })).toBe(1);
    expect(total(samples, 'strava_sync_changes_total', { trigger: 'webhook' })).toBe(3);
    expect(total(samples, 'strava_sync_changes_total', { trigger: 'manual' })).toBe(3);
    expect(total(samples, 'strava_sync_latency_event_to_row_seconds_count')).toBe(3);
    expect(total(samples, 'strava_sync_latency_receipt_to_row_seconds_count')).toBe(3);
    // The latency buckets are the ones the runtime was given (0.5 s ... 1 d), not the SDK's defaults.
    const bounds = samples.filter((s) => s.name === 'strava_sync_latency_event_to_row_seconds_bucket').map((s) => s.labels.le);
    expect(bounds).toEqual(expect.arrayContaining(['0.5', '60', '86400', '+Inf']));
    expect(total(samples, 'strava_token_refreshes_total', { outcome: 'succeeded' })).toBe(2);
    expect(total(samples, 'strava_token_refreshes_total', { outcome: 'refused' })).toBe(1);
    expect(total(samples, 'strava_token_refreshes_total', { outcome: 'network_failed' })).toBeGreaterThanOrEqual(1);
    // Bounded labels only: no athlete or activity id anywhere in the sync metrics.
    const ours = samples.filter((s) => s.name.startsWith('strava_'));
    for (const id of [athleteA, ...created]) expect(JSON.stringify(ours)).not.toContain(String(id));
  });

  it('6. backfills: completed on time, late while no worker runs, failed when Strava refuses', { timeout: 180_000 }, async () => {
    athleteB = await connectAthlete(api, emulator, db.sql, 5);
    await startWorkflow(athleteB, BACKFILL_INTERVAL_MS);
    const okBackfills = () => runsOf(athleteB).then((rows) => rows.filter((r) => r.trigger === 'backfill' && r.outcome === 'ok'));
    await waitFor(okBackfills, (rows) => rows.length >= 3, { timeoutMs: 60_000, what: 'three backfills' });
    expect((await okBackfills()).every((r) => r.dueAt !== null && r.startedAt.getTime() >= r.dueAt.getTime())).toBe(true);
    const onTime = await waitFor(health, (h) => h.windows['1h'].backfillCompletion.completed >= 2, { timeoutMs: 30_000, what: 'completed backfills' });
    const before = onTime.windows['1h'].backfillCompletion;
    expect(before.due).toBe(before.completed + before.late + before.failed);

    // No worker: the planned backfill comes due and passes its deadline without running. It counts as late.
    // The worker is stopped while a plan is waiting (recorded right after each backfill), not between a backfill
    // and the recording of the next plan.
    await waitFor(
      () => db.sql`select 1 from backfill_plans where athlete_id = ${athleteB} and due_at > now() + interval '1 second'`,
      (rows) => rows.length > 0,
      { timeoutMs: 30_000, what: 'a waiting backfill plan' },
    );
    await worker.stop();
    const overdue = await waitFor(
      () => db.sql<{ dueAt: Date }[]>`
        select p.due_at as "dueAt" from backfill_plans p
        where p.athlete_id = ${athleteB} and p.due_at < now() - make_interval(secs => ${LATE_AFTER_MS / 1000 + 1})
          and not exists (select 1 from sync_runs r where r.athlete_id = p.athlete_id and r.due_at = p.due_at and r.outcome = 'ok')`,
      (rows) => rows.length > 0,
      { timeoutMs: 30_000, what: 'an overdue backfill' },
    );
    const whileDown = (await health()).windows['1h'].backfillCompletion;
    expect(whileDown.late).toBeGreaterThanOrEqual(before.late + 1);
    expect(whileDown.rate!).toBeLessThan(1);
    expect(whileDown.due).toBe(whileDown.completed + whileDown.late + whileDown.failed);

    // Back: the overdue backfill runs, after its deadline, so it stays late.
    worker = await startWorkerProcess(workerEnv);
    const overdueDue = overdue[0]!.dueAt.getTime();
    await waitFor(okBackfills, (rows) => rows.some((r) => r.dueAt!.getTime() === overdueDue), { timeoutMs: 30_000, what: 'the overdue backfill' });
    expect((await health()).windows['1h'].backfillCompletion.late).toBeGreaterThanOrEqual(whileDown.late);

    // Strava refuses the application (403): the backfill fails for good.
    await emulator.control.setFaults({ appInactive: true });
    const failed = await waitFor(
      () => runsOf(athleteB).then((rows) => rows.filter((r) => r.trigger === 'backfill' && r.outcome === 'failed')),
      (rows) => rows.length > 0,
      { timeoutMs: 30_000, what: 'a failed backfill' },
    );
    await emulator.control.setFaults({ appInactive: false });
    expect(failed[0]).toMatchObject({ failureType: 'AppForbidden', willRetry: false });
    const after = await waitFor(health, (h) => h.windows['1h'].backfillCompletion.failed >= 1, { timeoutMs: 30_000, what: 'the failed backfill counted' });
    const counts = after.windows['1h'].backfillCompletion;
    expect(counts.due).toBe(counts.completed + counts.late + counts.failed);
    expect(counts.rate).toBe(counts.completed / counts.due);
  });

  it('7. GET /admin/sync-runs lists the real history by athlete and trigger', async () => {
    const webhooks = syncRunPageSchema.parse(await (await api.fetch(`/admin/sync-runs?athleteId=${athleteA}&trigger=webhook&outcome=ok`, { admin: true })).json());
    expect(webhooks.runs.filter((r) => r.changes === 1)).toHaveLength(3);
    expect(webhooks.runs.every((r) => r.athleteId === athleteA && r.trigger === 'webhook')).toBe(true);
    const backfills = syncRunPageSchema.parse(await (await api.fetch(`/admin/sync-runs?athleteId=${athleteB}&trigger=backfill&limit=2`, { admin: true })).json());
    expect(backfills.runs).toHaveLength(2);
    expect(backfills.nextCursor).not.toBeNull();
    expect(backfills.runs.every((r) => r.dueAt !== null)).toBe(true);
  });

  it('8. the histories hold ids, counts and times only (RECORD_HISTORIES=1 keeps them as replay fixtures)', async () => {
    for (const [index, athleteId] of [athleteA, athleteB].entries()) {
      const json = historyToJSON(await dev.client.workflow.getHandle(`athlete-${athleteId}`).fetchHistory());
      expect(json).not.toContain(emulator.clientSecret);
      expect(json).not.toContain('Renamed while the webhooks were lost');
      // The new command of this history: the backfill plan activity (behind patched('record-backfill-plan')).
      expect(json).toContain('"recordBackfillPlan"');
      if (process.env.RECORD_HISTORIES === '1') {
        await mkdir(FIXTURES_DIR, { recursive: true });
        await writeFile(join(FIXTURES_DIR, `health-${index}-0.json`), json);
      }
    }
  });
});
