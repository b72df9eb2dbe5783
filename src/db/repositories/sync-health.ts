import { bigintArray, textArray, type Db } from '../connection.js';
import { REPAIR_TRIGGERS, WEBHOOK_DELIVERED_TRIGGERS } from '../../domain/sync-history.js';

/**
 * The raw counts behind the four health numbers over one time window ending at the database's now()
 * (docs/operations.md, "Health numbers", defines each). The rates are computed from these in src/api/admin/health.ts.
 */

export interface LatencySummary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface WindowCounts {
  webhookDelivery: { viaWebhook: number; repairs: number };
  backfillCompletion: { due: number; completed: number; late: number; failed: number };
  tokenRefresh: { attempted: number; succeeded: number; refused: number; networkFailed: number };
  latency: { eventToRow: LatencySummary; receiptToRow: LatencySummary };
}

const secondsOf = (ms: number) => ms / 1000;

/**
 * Changes delivered by webhooks and changes only a list found (the repairs), in runs started within the window,
 * whatever their outcome: a list that failed part-way wrote its first pages, and its retry will not find them again.
 */
export async function loadWebhookDelivery(sql: Db, windowMs: number): Promise<WindowCounts['webhookDelivery']> {
  const [row] = await sql<{ viaWebhook: number; repairs: number }[]>`
    select coalesce(sum(changes) filter (where trigger = any(${textArray(sql, WEBHOOK_DELIVERED_TRIGGERS)})), 0)::int as "viaWebhook",
           coalesce(sum(changes) filter (where trigger = any(${textArray(sql, REPAIR_TRIGGERS)})), 0)::int as repairs
    from sync_runs
    where started_at >= now() - make_interval(secs => ${secondsOf(windowMs)})`;
  return row ?? { viaWebhook: 0, repairs: 0 };
}

/**
 * Backfills whose deadline (due time + lateAfter) fell within the window: the planned ones and any that ran without
 * a recorded plan. Each is completed (an ok run finished by the deadline), failed (not completed, and an attempt that
 * settled as failed by the deadline) or late (anything else: still waiting, rate limited, never run, or finished
 * after the deadline). Athletes now revoked or waiting for re-authorization are left out: their workflow no longer
 * backfills, and the token refresh rate already tells that story.
 */
async function backfillCompletion(sql: Db, windowMs: number, lateAfterMs: number): Promise<WindowCounts['backfillCompletion']> {
  const [row] = await sql<{ due: number; completed: number; late: number; failed: number }[]>`
    with params as (
      select now() - make_interval(secs => ${secondsOf(windowMs + lateAfterMs)}) as first_due,
             now() - make_interval(secs => ${secondsOf(lateAfterMs)}) as last_due,
             make_interval(secs => ${secondsOf(lateAfterMs)}) as late_after
    ), due as (
      select p.athlete_id, p.due_at from backfill_plans p, params
      where p.due_at > params.first_due and p.due_at <= params.last_due
      union
      select r.athlete_id, r.due_at from sync_runs r, params
      where r.due_at > params.first_due and r.due_at <= params.last_due
    ), judged as (
      select
        exists (select 1 from sync_runs r where r.due_at = d.due_at and r.athlete_id = d.athlete_id and r.outcome = 'ok'
                  and r.started_at + make_interval(secs => r.duration_ms / 1000.0) <= d.due_at + params.late_after) as completed,
        exists (select 1 from sync_runs r where r.due_at = d.due_at and r.athlete_id = d.athlete_id and r.outcome = 'failed'
                  and not r.will_retry and r.started_at <= d.due_at + params.late_after) as failed
      from due d, params
      where not exists (select 1 from athletes a where a.id = d.athlete_id and a.state in ('revoked', 'needs_reauth'))
    )
    select count(*)::int as due,
           count(*) filter (where completed)::int as completed,
           count(*) filter (where not completed and not failed)::int as late,
           count(*) filter (where not completed and failed)::int as failed
    from judged`;
  return row ?? { due: 0, completed: 0, late: 0, failed: 0 };
}

async function tokenRefresh(sql: Db, windowMs: number): Promise<WindowCounts['tokenRefresh']> {
  const [row] = await sql<WindowCounts['tokenRefresh'][]>`
    select count(*)::int as attempted,
           count(*) filter (where outcome = 'succeeded')::int as succeeded,
           count(*) filter (where outcome = 'refused')::int as refused,
           count(*) filter (where outcome = 'network_failed')::int as "networkFailed"
    from token_refreshes
    where at >= now() - make_interval(secs => ${secondsOf(windowMs)})`;
  return row ?? { attempted: 0, succeeded: 0, refused: 0, networkFailed: 0 };
}

async function latency(sql: Db, windowMs: number): Promise<WindowCounts['latency']> {
  const [row] = await sql<{ e: number; e50: number | null; e95: number | null; e99: number | null; r: number; r50: number | null; r95: number | null; r99: number | null }[]>`
    select count(event_to_row_ms)::int as e,
           percentile_cont(0.5) within group (order by event_to_row_ms) as e50,
           percentile_cont(0.95) within group (order by event_to_row_ms) as e95,
           percentile_cont(0.99) within group (order by event_to_row_ms) as e99,
           count(receipt_to_row_ms)::int as r,
           percentile_cont(0.5) within group (order by receipt_to_row_ms) as r50,
           percentile_cont(0.95) within group (order by receipt_to_row_ms) as r95,
           percentile_cont(0.99) within group (order by receipt_to_row_ms) as r99
    from sync_runs
    where started_at >= now() - make_interval(secs => ${secondsOf(windowMs)})
      and (event_to_row_ms is not null or receipt_to_row_ms is not null)`;
  const ms = (value: number | null | undefined) => (value === null || value === undefined ? null : Math.round(Number(value)));
  return {
    eventToRow: { count: row?.e ?? 0, p50: ms(row?.e50), p95: ms(row?.e95), p99: ms(row?.e99) },
    receiptToRow: { count: row?.r ?? 0, p50: ms(row?.r50), p95: ms(row?.r95), p99: ms(row?.r99) },
  };
}

/** Every count of one window (windowMs long, ending now); lateAfterMs is how long after its due time a backfill is late. */
export async function loadWindowCounts(sql: Db, windowMs: number, lateAfterMs: number): Promise<WindowCounts> {
  const [delivery, backfill, refresh, latencies] = await Promise.all([
    loadWebhookDelivery(sql, windowMs),
    backfillCompletion(sql, windowMs, lateAfterMs),
    tokenRefresh(sql, windowMs),
    latency(sql, windowMs),
  ]);
  return { webhookDelivery: delivery, backfillCompletion: backfill, tokenRefresh: refresh, latency: latencies };
}

/**
 * How many event -> row latencies of the window fell into each bucket: bucket i counts values in
 * (bounds[i-1], bounds[i]] (the first from 0); values above the last bound are counted in the last bucket.
 */
export async function loadEventLatencyBuckets(sql: Db, windowMs: number, boundsMs: readonly number[]): Promise<number[]> {
  // width_bucket counts thresholds[i] <= v < thresholds[i+1]; whole milliseconds make "v <= le" into "v < le + 1".
  const thresholds = boundsMs.map((le) => le + 1);
  const rows = await sql<{ bucket: number; count: number }[]>`
    select width_bucket(event_to_row_ms, ${bigintArray(sql, thresholds)}) as bucket, count(*)::int as count
    from sync_runs
    where started_at >= now() - make_interval(secs => ${secondsOf(windowMs)}) and event_to_row_ms is not null
    group by 1`;
  const counts = boundsMs.map(() => 0);
  for (const row of rows) {
    const index = Math.min(row.bucket, counts.length - 1);
    counts[index] = (counts[index] ?? 0) + row.count;
  }
  return counts;
}
