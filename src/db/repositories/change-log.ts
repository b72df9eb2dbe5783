import type { Db } from '../connection.js';
import { athleteChangeSchema, type AthleteChange } from '../change-feed.js';

/** The change log (012_change_log.sql): what clients replay from a cursor, and its retention. */

export interface ChangeLogBounds {
  /** The largest id recorded so far (0 when none). */
  head: number;
  /** The largest id pruned (0 when none): a cursor below it has missed changes. */
  prunedThrough: number;
}

interface Row {
  id: number;
  payload: unknown;
}

const toChange = (row: Row): AthleteChange => ({ ...athleteChangeSchema.parse(row.payload), id: row.id });

export async function changeLogBounds(sql: Db): Promise<ChangeLogBounds> {
  const [row] = await sql<ChangeLogBounds[]>`
    select coalesce((select max(id) from change_log), 0) as head, pruned_through as "prunedThrough" from change_log_horizon`;
  // Pruning never goes past the newest row, but an empty log after a prune still has a horizon.
  return { head: Math.max(row!.head, row!.prunedThrough), prunedThrough: row!.prunedThrough };
}

/** One athlete's changes after a cursor, oldest first. */
export async function athleteChangesAfter(sql: Db, athleteId: number, afterId: number, limit: number): Promise<AthleteChange[]> {
  const rows = await sql<Row[]>`
    select id, payload from change_log where athlete_id = ${athleteId} and id > ${afterId} order by id limit ${limit}`;
  return rows.map(toChange);
}

/** Every athlete's changes after a cursor, oldest first. */
export async function changesAfter(sql: Db, afterId: number, limit: number): Promise<AthleteChange[]> {
  const rows = await sql<Row[]>`select id, payload from change_log where id > ${afterId} order by id limit ${limit}`;
  return rows.map(toChange);
}

/**
 * Deletes up to `limit` rows recorded before `before`, oldest first, and moves the horizon to the largest id
 * deleted, in one statement. Returns how many went.
 */
export async function pruneChangeLog(sql: Db, before: Date, limit: number): Promise<number> {
  const [row] = await sql<{ deleted: number }[]>`
    with doomed as (
      delete from change_log
      where id in (select id from change_log where created_at < ${before} order by created_at, id limit ${limit})
      returning id),
    moved as (
      update change_log_horizon set pruned_through = greatest(pruned_through, (select max(id) from doomed))
      returning pruned_through)
    select (select count(*) from doomed)::int as deleted, (select count(*) from moved) as moved`;
  return row!.deleted;
}
