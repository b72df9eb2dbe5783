import type { Db } from '../connection.js';

/**
 * Records the backfill an athlete's workflow just planned. The athlete's earlier plans that are not due yet are
 * replaced (a re-plan moves the backfill, it does not add one); plans already due stay, to be judged.
 */
export async function recordBackfillPlan(sql: Db, athleteId: number, dueAt: Date): Promise<void> {
  await sql`
    with superseded as (
      delete from backfill_plans where athlete_id = ${athleteId} and due_at > now() and due_at <> ${dueAt}
    )
    insert into backfill_plans (athlete_id, due_at) values (${athleteId}, ${dueAt})
    on conflict (athlete_id, due_at) do nothing`;
}

/** Deletes up to `limit` plans due before `before` (rows another pruner holds are skipped); returns how many went. */
export async function pruneBackfillPlans(sql: Db, before: Date, limit: number): Promise<number> {
  const [row] = await sql<{ deleted: number }[]>`
    with doomed as (
      select athlete_id, due_at from backfill_plans where due_at < ${before} order by due_at limit ${limit}
      for update skip locked
    ), deleted as (
      delete from backfill_plans p using doomed where p.athlete_id = doomed.athlete_id and p.due_at = doomed.due_at
      returning 1
    )
    select count(*)::int as deleted from deleted`;
  return row?.deleted ?? 0;
}
