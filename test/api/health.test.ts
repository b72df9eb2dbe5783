import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHealthSchema, type AdminHealth } from '../../src/api/admin/sync-history-schemas.js';
import { LATENCY_BUCKET_BOUNDS_MS } from '../../src/api/admin/health.js';
import { recordBackfillPlan } from '../../src/db/repositories/backfill-plans.js';
import { recordSyncRun, type SyncRunInput } from '../../src/db/repositories/sync-runs.js';
import { recordTokenRefresh } from '../../src/db/repositories/token-refreshes.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, uniqueAthleteId, type ApiHarness } from './helpers/api-harness.js';

/**
 * GET /admin/health over a sync history written by hand, each row placed so that it falls on a known side of every
 * definition in docs/operations.md ("Health numbers"): the numbers must come out exactly. The same numbers moving
 * with real webhooks, backfills and refreshes: test/integration/sync-history.test.ts.
 */

const db = useTestDatabase();
const MIN = 60_000;
const HOUR = 60 * MIN;

const ago = (ms: number) => new Date(Date.now() - ms);

function run(overrides: Partial<SyncRunInput> & Pick<SyncRunInput, 'athleteId' | 'trigger'>): SyncRunInput {
  return {
    activity: overrides.trigger === 'webhook' ? 'fetch_activity' : overrides.trigger === 'import_page' ? 'import_page' : 'sync_window',
    outcome: 'ok',
    failureType: null,
    attempt: 1,
    willRetry: false,
    requests: 1,
    added: 0,
    updated: 0,
    deleted: 0,
    changes: 0,
    startedAt: ago(10 * MIN),
    durationMs: 500,
    dueAt: null,
    eventToRowMs: null,
    receiptToRowMs: null,
    ...overrides,
  };
}

describe('GET /admin/health', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;
  const health = async (): Promise<AdminHealth> => {
    const response = await api.fetch('/admin/health', { admin: true });
    expect(response.status).toBe(200);
    return adminHealthSchema.parse(await response.json());
  };

  beforeAll(async () => {
    dev = await connectDevServer();
    api = await startApi({ db, dev });
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  it('needs the admin key', async () => {
    expect((await api.fetch('/admin/health')).status).toBe(401);
  });

  it('with no history: every rate and latency is null, every count 0', async () => {
    const body = await health();
    for (const window of [body.windows['1h'], body.windows['24h']]) {
      expect(window).toEqual({
        webhookDelivery: { viaWebhook: 0, repairs: 0, rate: null },
        backfillCompletion: { completed: 0, due: 0, late: 0, failed: 0, rate: null },
        tokenRefresh: { attempted: 0, succeeded: 0, refused: 0, networkFailed: 0, rate: null },
        latency: { eventToRow: null, receiptToRow: null },
      });
    }
    expect(body.latencyBuckets.map((b) => b.le)).toEqual(LATENCY_BUCKET_BOUNDS_MS);
    expect(body.latencyBuckets.every((b) => b.count === 0)).toBe(true);
    expect(Math.abs(Date.parse(body.generatedAt) - Date.now())).toBeLessThan(60_000);
  });

  it('computes each number exactly as docs/operations.md defines it, for 1 h and 24 h', async () => {
    const a = uniqueAthleteId();
    // Webhook delivery: webhook and burst changes are delivered; backfill, focus, manual and catch-up changes are
    // repairs; the import counts neither; a list that failed part-way still wrote its changes.
    for (const [trigger, changes] of [['webhook', 1], ['webhook', 1], ['webhook', 1], ['burst', 2], ['backfill', 1], ['manual', 1], ['focus', 1], ['catch_up', 1], ['import_page', 0]] as const) {
      await recordSyncRun(db.sql, run({ athleteId: a, trigger, changes, added: trigger === 'import_page' ? 200 : changes }));
    }
    await recordSyncRun(db.sql, run({ athleteId: a, trigger: 'backfill', outcome: 'failed', failureType: 'StravaServerError', changes: 2 }));
    // Two hours ago: only in the day.
    await recordSyncRun(db.sql, run({ athleteId: a, trigger: 'webhook', changes: 1, startedAt: ago(2 * HOUR) }));

    // Latency samples (ms): 1 s, 2 s, 3 s, 4 s and 100 s in the hour; 10 days (a very old event) in the day.
    for (const [eventToRowMs, receiptToRowMs] of [[1_000, 200], [2_000, 300], [3_000, 400], [4_000, null], [100_000, 500]] as const) {
      await recordSyncRun(db.sql, run({ athleteId: a, trigger: 'webhook', outcome: 'ok', changes: 0, eventToRowMs, receiptToRowMs }));
    }
    await recordSyncRun(db.sql, run({ athleteId: a, trigger: 'webhook', changes: 0, eventToRowMs: 10 * 24 * HOUR, startedAt: ago(3 * HOUR) }));

    // Backfills (BACKFILL_LATE_AFTER 15 min): each athlete one backfill, due `due` ago.
    const backfill = async (due: number, runs: Partial<SyncRunInput>[], plan = true) => {
      const athleteId = uniqueAthleteId();
      const dueAt = ago(due);
      if (plan) await recordBackfillPlan(db.sql, athleteId, dueAt);
      for (const r of runs) await recordSyncRun(db.sql, run({ athleteId, trigger: 'backfill', dueAt, ...r }));
      return athleteId;
    };
    const at = (dueAgo: number, after: number) => ago(dueAgo - after);
    await backfill(30 * MIN, [{ startedAt: at(30 * MIN, MIN) }]); // completed a minute after it was due
    await backfill(40 * MIN, [{ startedAt: at(40 * MIN, 20 * MIN) }]); // finished 20 min after: late
    await backfill(50 * MIN, [{ outcome: 'rate_limited', failureType: 'RateLimited', startedAt: at(50 * MIN, MIN) }]); // waiting: late
    await backfill(55 * MIN, []); // planned, never ran: late
    await backfill(20 * MIN, [{ outcome: 'failed', failureType: 'AppForbidden', startedAt: at(20 * MIN, MIN) }]); // failed
    await backfill(25 * MIN, [
      { outcome: 'failed', failureType: 'StravaServerError', willRetry: true, startedAt: at(25 * MIN, MIN) },
      { attempt: 2, startedAt: at(25 * MIN, 2 * MIN) },
    ]); // a retried attempt, then ok in time: completed
    await backfill(35 * MIN, [{ startedAt: at(35 * MIN, MIN) }], false); // ran without a recorded plan: completed
    await backfill(5 * MIN, []); // its deadline is still ahead: not counted yet
    await backfill(3 * HOUR, [{ startedAt: at(3 * HOUR, MIN) }]); // completed, in the day only
    const revoked = await backfill(30 * MIN, []); // the athlete left: not counted
    await db.sql`insert into athletes (id, state, revoked_at) values (${revoked}, 'revoked', now())`;

    // Token refreshes: 3 succeeded, 1 refused, 2 network failures in the hour; 1 succeeded 5 hours ago.
    for (const outcome of ['succeeded', 'succeeded', 'succeeded', 'refused', 'network_failed', 'network_failed'] as const) {
      await recordTokenRefresh(db.sql, { athleteId: a, outcome, errorKind: outcome === 'succeeded' ? null : outcome === 'refused' ? 'bad_request' : 'server_error', httpStatus: outcome === 'refused' ? 400 : null, durationMs: 80 });
    }
    await recordTokenRefresh(db.sql, { athleteId: a, outcome: 'succeeded', errorKind: null, httpStatus: null, durationMs: 80 });
    await db.sql`update token_refreshes set at = now() - interval '5 hours' where id = (select max(id) from token_refreshes)`;

    const body = await health();
    const hour = body.windows['1h'];
    const day = body.windows['24h'];

    expect(hour.webhookDelivery).toEqual({ viaWebhook: 5, repairs: 6, rate: 5 / 11 });
    expect(day.webhookDelivery).toEqual({ viaWebhook: 6, repairs: 6, rate: 0.5 });

    expect(hour.backfillCompletion).toEqual({ completed: 3, due: 7, late: 3, failed: 1, rate: 3 / 7 });
    expect(day.backfillCompletion).toEqual({ completed: 4, due: 8, late: 3, failed: 1, rate: 0.5 });

    expect(hour.tokenRefresh).toEqual({ attempted: 6, succeeded: 3, refused: 1, networkFailed: 2, rate: 0.5 });
    expect(day.tokenRefresh).toEqual({ attempted: 7, succeeded: 4, refused: 1, networkFailed: 2, rate: 4 / 7 });

    // percentile_cont over [1000, 2000, 3000, 4000, 100000]: p95 = 4000 + 0.8 x 96000, p99 = 4000 + 0.96 x 96000.
    expect(hour.latency.eventToRow).toEqual({ count: 5, p50: 3_000, p95: 80_800, p99: 96_160 });
    expect(hour.latency.receiptToRow).toEqual({ count: 4, p50: 350, p95: 485, p99: 497 });
    expect(day.latency.eventToRow?.count).toBe(6);

    const buckets = Object.fromEntries(body.latencyBuckets.map((b) => [b.le, b.count]));
    expect(buckets).toMatchObject({ 1_000: 1, 2_000: 1, 5_000: 2, 120_000: 1, [7 * 24 * HOUR]: 1 });
    expect(body.latencyBuckets.reduce((sum, b) => sum + b.count, 0)).toBe(6);
  });
});
