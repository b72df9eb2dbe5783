import type { Db } from '../connection.js';
import type { RunActivity, RunOutcome, SyncTrigger } from '../../domain/sync-history.js';

/** One attempt of a Strava activity as the sync history keeps it (migration 009). */
export interface SyncRunInput {
  athleteId: number;
  activity: RunActivity;
  trigger: SyncTrigger;
  outcome: RunOutcome;
  /** The Temporal failure type (or error class) of a failed or rate-limited attempt; null otherwise. */
  failureType: string | null;
  attempt: number;
  /** Temporal runs this activity again: the attempt did not settle the run. */
  willRetry: boolean;
  requests: number;
  added: number;
  updated: number;
  deleted: number;
  /** Changes of the kinds a webhook announces that the run wrote (added, name/type/privacy changed, removed). */
  changes: number;
  startedAt: Date;
  durationMs: number;
  dueAt: Date | null;
  eventToRowMs: number | null;
  receiptToRowMs: number | null;
}

export interface SyncRunRow extends SyncRunInput {
  id: number;
}

export interface SyncRunQuery {
  athleteId?: number;
  trigger?: SyncTrigger;
  outcome?: RunOutcome;
  /** started_at at or after / strictly before. */
  since?: Date;
  until?: Date;
  /** Rows recorded before this one (the previous page's last id). */
  beforeId?: number;
  limit: number;
}

export async function recordSyncRun(sql: Db, run: SyncRunInput): Promise<void> {
  await sql`
    insert into sync_runs (athlete_id, activity, trigger, outcome, failure_type, attempt, will_retry, requests, added,
                           updated, deleted, changes, started_at, duration_ms, due_at, event_to_row_ms, receipt_to_row_ms)
    values (${run.athleteId}, ${run.activity}, ${run.trigger}, ${run.outcome}, ${run.failureType}, ${run.attempt},
            ${run.willRetry}, ${run.requests}, ${run.added}, ${run.updated}, ${run.deleted}, ${run.changes},
            ${run.startedAt}, ${run.durationMs}, ${run.dueAt}, ${run.eventToRowMs}, ${run.receiptToRowMs})`;
}

/**
 * Runs newest first (in the order they were recorded: ids grow with time), keyset-paged by id so a page stays
 * stable while new runs arrive. Reads one row more than asked to tell whether another page exists.
 */
export async function listSyncRuns(sql: Db, query: SyncRunQuery): Promise<{ rows: SyncRunRow[]; more: boolean }> {
  const rows = await sql<SyncRunRow[]>`
    select id, athlete_id as "athleteId", activity, trigger, outcome, failure_type as "failureType", attempt,
           will_retry as "willRetry", requests, added, updated, deleted, changes, started_at as "startedAt",
           duration_ms as "durationMs", due_at as "dueAt", event_to_row_ms as "eventToRowMs",
           receipt_to_row_ms as "receiptToRowMs"
    from sync_runs
    where true
      ${query.athleteId !== undefined ? sql`and athlete_id = ${query.athleteId}` : sql``}
      ${query.trigger !== undefined ? sql`and trigger = ${query.trigger}` : sql``}
      ${query.outcome !== undefined ? sql`and outcome = ${query.outcome}` : sql``}
      ${query.since !== undefined ? sql`and started_at >= ${query.since}` : sql``}
      ${query.until !== undefined ? sql`and started_at < ${query.until}` : sql``}
      ${query.beforeId !== undefined ? sql`and id < ${query.beforeId}` : sql``}
    order by id desc
    limit ${query.limit + 1}`;
  return { rows: rows.slice(0, query.limit), more: rows.length > query.limit };
}

/**
 * Deletes up to `limit` runs that started before `before`, oldest first; rows another pruner holds are skipped,
 * so two instances pruning at once share the work instead of queueing. Returns how many went.
 */
export async function pruneSyncRuns(sql: Db, before: Date, limit: number): Promise<number> {
  const [row] = await sql<{ deleted: number }[]>`
    with doomed as (
      select id from sync_runs where started_at < ${before} order by started_at limit ${limit} for update skip locked
    ), deleted as (
      delete from sync_runs s using doomed where s.id = doomed.id returning 1
    )
    select count(*)::int as deleted from deleted`;
  return row?.deleted ?? 0;
}
