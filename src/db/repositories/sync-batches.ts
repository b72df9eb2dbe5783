import type { Db, Sql } from '../connection.js';

/** Batch syncs of POST /admin/sync (tables sync_batches and sync_batch_athletes, migration 011). */

export type BatchItemStatus = 'queued' | 'started' | 'succeeded' | 'failed' | 'skipped';

export interface NewBatchItem {
  athleteId: number;
  status: 'queued' | 'skipped';
  /** Why it was skipped. */
  reason?: string;
}

export interface BatchRow {
  id: string;
  createdAt: Date;
  mode: 'quick' | 'full';
  options: Record<string, unknown>;
  finishedAt: Date | null;
  runner: string;
  heartbeatAt: Date;
}

export interface OpenBatchItem {
  athleteId: number;
  status: 'queued' | 'started';
  syncId: string | null;
}

export interface BatchResultValues {
  added: number;
  updated: number;
  deleted: number;
  requests: number;
  tokensRefreshed: number;
  durationMs: number;
}

/** Batches are kept this long, then deleted when a new one is created. */
const KEEP_BATCHES = '7 days';

/** Records a batch and its athletes in one transaction (items in the order given), dropping week-old batches. */
export async function createBatch(
  sql: Sql,
  batch: { id: string; mode: 'quick' | 'full'; options: Record<string, unknown>; runner: string; items: NewBatchItem[] },
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`delete from sync_batches where created_at < now() - ${KEEP_BATCHES}::interval`;
    const finished = batch.items.every((item) => item.status === 'skipped');
    await tx`
      insert into sync_batches (id, mode, options, runner, finished_at)
      values (${batch.id}, ${batch.mode}, ${tx.json(batch.options as never)}, ${batch.runner}, ${finished ? tx`now()` : null})`;
    // In chunks: a fleet-wide batch may hold many thousand athletes (one statement's parameters are bounded).
    for (let start = 0; start < batch.items.length; start += 5_000) {
      const rows = batch.items.slice(start, start + 5_000).map((item, index) => ({
        batch_id: batch.id,
        athlete_id: item.athleteId,
        status: item.status,
        reason: item.reason ?? null,
        position: start + index,
      }));
      await tx`insert into sync_batch_athletes ${tx(rows)}`;
    }
  });
}

export async function getBatch(sql: Db, id: string): Promise<BatchRow | undefined> {
  const [row] = await sql<BatchRow[]>`
    select id, created_at as "createdAt", mode, options, finished_at as "finishedAt", runner, heartbeat_at as "heartbeatAt"
    from sync_batches where id = ${id}`;
  return row;
}

/** The athletes still to sync or to hear back from, in batch order. */
export async function openBatchItems(sql: Db, batchId: string): Promise<OpenBatchItem[]> {
  return sql<OpenBatchItem[]>`
    select athlete_id as "athleteId", status, sync_id as "syncId" from sync_batch_athletes
    where batch_id = ${batchId} and status in ('queued', 'started') order by position`;
}

export async function markItemStarted(sql: Db, batchId: string, athleteId: number, syncId: string): Promise<void> {
  await sql`update sync_batch_athletes set status = 'started', sync_id = ${syncId} where batch_id = ${batchId} and athlete_id = ${athleteId}`;
}

export async function markItemSucceeded(sql: Db, batchId: string, athleteId: number, result: BatchResultValues): Promise<void> {
  await sql`
    update sync_batch_athletes set status = 'succeeded', added = ${result.added}, updated = ${result.updated},
      deleted = ${result.deleted}, requests = ${result.requests}, tokens_refreshed = ${result.tokensRefreshed},
      duration_ms = ${result.durationMs}
    where batch_id = ${batchId} and athlete_id = ${athleteId}`;
}

export async function markItemFailed(sql: Db, batchId: string, athleteId: number, type: string, message: string): Promise<void> {
  await sql`
    update sync_batch_athletes set status = 'failed', reason = ${type}, message = ${message.slice(0, 500)}
    where batch_id = ${batchId} and athlete_id = ${athleteId}`;
}

export async function markItemSkipped(sql: Db, batchId: string, athleteId: number, reason: string): Promise<void> {
  await sql`update sync_batch_athletes set status = 'skipped', reason = ${reason} where batch_id = ${batchId} and athlete_id = ${athleteId}`;
}

export async function finishBatch(sql: Db, batchId: string): Promise<void> {
  await sql`update sync_batches set finished_at = now() where id = ${batchId} and finished_at is null`;
}

/** Renews the runner's claim; false when another instance adopted the batch meanwhile. */
export async function renewBatch(sql: Db, batchId: string, runner: string): Promise<boolean> {
  const rows = await sql`update sync_batches set heartbeat_at = now() where id = ${batchId} and runner = ${runner} returning id`;
  return rows.length > 0;
}

/** Takes over an unfinished batch whose runner has not renewed its claim for staleMs; true when this caller won. */
export async function adoptBatch(sql: Db, batchId: string, runner: string, staleMs: number): Promise<boolean> {
  const rows = await sql`
    update sync_batches set runner = ${runner}, heartbeat_at = now()
    where id = ${batchId} and finished_at is null and heartbeat_at < now() - ${staleMs} * interval '1 millisecond'
    returning id`;
  return rows.length > 0;
}

export interface BatchTally {
  status: BatchItemStatus;
  reason: string | null;
  count: number;
  added: number;
  updated: number;
  deleted: number;
  requests: number;
  tokensRefreshed: number;
}

/** Counts and sums per status and reason: the aggregate the caller polls. */
export async function tallyBatch(sql: Db, batchId: string): Promise<BatchTally[]> {
  return sql<BatchTally[]>`
    select status, reason, count(*)::int as count,
      coalesce(sum(added), 0)::int as added, coalesce(sum(updated), 0)::int as updated,
      coalesce(sum(deleted), 0)::int as deleted, coalesce(sum(requests), 0)::int as requests,
      coalesce(sum(tokens_refreshed), 0)::int as "tokensRefreshed"
    from sync_batch_athletes where batch_id = ${batchId} group by status, reason`;
}

/** The first failures (by batch order) with their messages. */
export async function batchFailures(sql: Db, batchId: string, limit: number): Promise<{ athleteId: number; type: string; message: string | null }[]> {
  return sql<{ athleteId: number; type: string; message: string | null }[]>`
    select athlete_id as "athleteId", reason as type, message from sync_batch_athletes
    where batch_id = ${batchId} and status = 'failed' order by position limit ${limit}`;
}
