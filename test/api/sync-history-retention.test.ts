import { beforeEach, describe, expect, it } from 'vitest';
import { createSyncHistoryRetention } from '../../src/api/admin/sync-history-retention.js';
import { loadConfig } from '../../src/config.js';
import { recordBackfillPlan } from '../../src/db/repositories/backfill-plans.js';
import { recordSyncRun } from '../../src/db/repositories/sync-runs.js';
import { recordTokenRefresh } from '../../src/db/repositories/token-refreshes.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/** SYNC_HISTORY_RETENTION: old sync runs, backfill plans and token refreshes go, in batches; recent ones stay. */

const db = useTestDatabase();
const DAY = 86_400_000;

async function addRun(athleteId: number, ageDays: number): Promise<void> {
  await recordSyncRun(db.sql, {
    athleteId, activity: 'sync_window', trigger: 'backfill', outcome: 'ok', failureType: null, attempt: 1, willRetry: false,
    requests: 1, added: 0, updated: 0, deleted: 0, changes: 0, startedAt: new Date(Date.now() - ageDays * DAY), durationMs: 10,
    dueAt: new Date(Date.now() - ageDays * DAY), eventToRowMs: null, receiptToRowMs: null,
  });
}
async function addRefresh(athleteId: number, ageDays: number): Promise<void> {
  await recordTokenRefresh(db.sql, { athleteId, outcome: 'succeeded', errorKind: null, httpStatus: null, durationMs: 5 });
  await db.sql`update token_refreshes set at = now() - make_interval(secs => ${ageDays * 86_400}) where id = (select max(id) from token_refreshes)`;
}
const ages = async () => ({
  runs: (await db.sql<{ age: number }[]>`select round(extract(epoch from now() - started_at) / 86400)::int as age from sync_runs order by 1`).map((r) => r.age),
  plans: (await db.sql<{ age: number }[]>`select round(extract(epoch from now() - due_at) / 86400)::int as age from backfill_plans order by 1`).map((r) => r.age),
  refreshes: (await db.sql<{ age: number }[]>`select round(extract(epoch from now() - at) / 86400)::int as age from token_refreshes order by 1`).map((r) => r.age),
});

describe('sync history retention', () => {
  beforeEach(async () => {
    await db.sql`truncate sync_runs, backfill_plans, token_refreshes`;
  });

  it('SYNC_HISTORY_RETENTION defaults to 30 days and takes a duration', () => {
    expect(loadConfig({}).SYNC_HISTORY_RETENTION).toBe(30 * DAY);
    expect(loadConfig({ SYNC_HISTORY_RETENTION: '7d' }).SYNC_HISTORY_RETENTION).toBe(7 * DAY);
    expect(() => loadConfig({ SYNC_HISTORY_RETENTION: 'a month' })).toThrow(/SYNC_HISTORY_RETENTION/);
    expect(loadConfig({}).BACKFILL_LATE_AFTER).toBe(15 * 60_000);
  });

  it('deletes rows past the retention from all three tables, batch by batch, and keeps the rest', async () => {
    for (let i = 0; i < 7; i++) await addRun(1, 40 + i);
    for (const age of [29, 1, 0]) await addRun(2, age);
    for (let i = 0; i < 5; i++) await recordBackfillPlan(db.sql, 100 + i, new Date(Date.now() - (35 + i) * DAY));
    await recordBackfillPlan(db.sql, 200, new Date(Date.now() - 2 * DAY));
    for (let i = 0; i < 4; i++) await addRefresh(3, 31 + i);
    await addRefresh(3, 3);

    const retention = createSyncHistoryRetention({ sql: db.sql, retentionMs: 30 * DAY, batchSize: 3 });
    expect(await retention.pruneOnce()).toEqual({ syncRuns: 7, backfillPlans: 5, tokenRefreshes: 4 });
    expect(await ages()).toEqual({ runs: [0, 1, 29], plans: [2], refreshes: [3] });

    // Caught up, and two instances pruning at once share the work without either failing.
    await addRun(1, 50);
    await addRun(1, 51);
    const other = createSyncHistoryRetention({ sql: db.sql, retentionMs: 30 * DAY, batchSize: 1 });
    const both = await Promise.all([retention.pruneOnce(), other.pruneOnce()]);
    expect(both[0].syncRuns + both[1].syncRuns).toBe(2);
    expect((await ages()).runs).toEqual([0, 1, 29]);
  });

  it('prunes at once when started, then on its interval, and stops cleanly', async () => {
    await addRun(1, 45);
    await addRun(1, 0);
    let clock = Date.now();
    const retention = createSyncHistoryRetention({ sql: db.sql, retentionMs: 30 * DAY, intervalMs: 100, now: () => clock });
    retention.start();
    try {
      await waitFor(ages, (a) => a.runs.length === 1, { timeoutMs: 3_000, what: 'the prune of start()' });
      // Ten days later the 29-day-old run is past the retention too: the interval's prune takes it.
      await addRun(1, 25);
      clock += 10 * DAY;
      await waitFor(ages, (a) => a.runs.join() === '0', { timeoutMs: 3_000, what: 'a prune on the interval' });
    } finally {
      await retention.stop();
    }
  });
});
