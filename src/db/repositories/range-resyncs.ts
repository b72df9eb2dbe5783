import { bigintArray, type Db } from '../connection.js';

/** Bookkeeping of range re-syncs (013_range_resync.sql): when each began, and which ids Strava returned. */

/** Records that the re-sync began (idempotent: a retried or resumed first page keeps the first start). */
export async function beginResync(sql: Db, resyncId: string, athleteId: number): Promise<void> {
  await sql`insert into range_resyncs (id, athlete_id) values (${resyncId}, ${athleteId}) on conflict (id) do nothing`;
}

export async function recordResyncSeen(sql: Db, resyncId: string, activityIds: number[]): Promise<void> {
  if (activityIds.length === 0) return;
  await sql`
    insert into range_resync_seen (resync_id, activity_id)
    select ${resyncId}, unnest(${bigintArray(sql, activityIds)}::bigint[])
    on conflict do nothing`;
}

/**
 * Stored activities of the athlete that started inside the window (exclusive bounds, as Strava filters), that the
 * re-sync did not see, and that were last written before it began.
 */
export async function unseenInWindow(sql: Db, resyncId: string, athleteId: number, after: Date, before: Date): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select a.id from activities a
    join range_resyncs r on r.id = ${resyncId}
    where a.athlete_id = ${athleteId} and a.start_date > ${after} and a.start_date < ${before}
      and a.synced_at < r.started_at
      and not exists (select 1 from range_resync_seen s where s.resync_id = ${resyncId} and s.activity_id = a.id)`;
  return rows.map((r) => r.id);
}

export async function endResync(sql: Db, resyncId: string): Promise<void> {
  await sql`delete from range_resyncs where id = ${resyncId}`;
}

/** Activities stored for the athlete in a window: the basis of a re-sync's request estimate. */
export async function countInWindow(sql: Db, athleteId: number, after: Date, before: Date): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from activities where athlete_id = ${athleteId} and start_date > ${after} and start_date < ${before}`;
  return row!.n;
}
