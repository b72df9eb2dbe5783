import { z } from 'zod';
import type { Db, Sql } from './connection.js';

/** PostgreSQL NOTIFY channel on which every write to an athlete's data is announced (the API's SSE feed). */
export const CHANGE_CHANNEL = 'athlete_changes';

/** Serialises change ids with commits (012_change_log.sql); any constant works, the same in every process. */
const CHANGE_LOG_LOCK_KEY = 7_310_401_301;

export const CHANGE_KINDS = ['activities_upserted', 'activities_deleted', 'athlete_state', 'athlete_purged'] as const;

export const athleteChangeSchema = z.object({
  /** The change's id in change_log: increases in commit order, across every athlete (absent from older publishers). */
  id: z.number().int().positive().optional(),
  athleteId: z.number().int().positive(),
  kind: z.enum(CHANGE_KINDS),
  /** Ids affected, capped so a payload stays far below NOTIFY's 8000-byte limit. */
  activityIds: z.array(z.number().int()).max(200).optional(),
  count: z.number().int().nonnegative().optional(),
  at: z.string(),
});
export type AthleteChange = z.infer<typeof athleteChangeSchema>;

/**
 * Records a change in change_log and announces it (NOTIFY), in one statement; returns its id. Inside a
 * transaction both happen only if it commits. It takes a transaction-scoped lock so ids follow commit order:
 * call it last in a transaction (the lock is held until the commit).
 */
export async function publishChange(sql: Db, change: Omit<AthleteChange, 'at' | 'id'>): Promise<number> {
  const ids = change.activityIds?.slice(0, 200);
  const payload: AthleteChange = { ...change, ...(ids ? { activityIds: ids } : {}), at: new Date().toISOString() };
  const [row] = await sql<{ id: number }[]>`
    with serialised as (select pg_advisory_xact_lock(${CHANGE_LOG_LOCK_KEY})),
         logged as (
           insert into change_log (athlete_id, kind, payload)
           select ${change.athleteId}, ${change.kind}, ${sql.json(payload as never)} from serialised
           returning id)
    select id, pg_notify(${CHANGE_CHANNEL}, jsonb_set(${sql.json(payload as never)}::jsonb, '{id}', to_jsonb(id))::text) from logged`;
  return row!.id;
}

/** Subscribes to the change feed; returns an unsubscribe function. */
export async function listenChanges(sql: Sql, onChange: (change: AthleteChange) => void): Promise<() => Promise<void>> {
  const { unlisten } = await sql.listen(CHANGE_CHANNEL, (payload) => {
    const parsed = athleteChangeSchema.safeParse(JSON.parse(payload));
    if (parsed.success) onChange(parsed.data);
  });
  return unlisten;
}
