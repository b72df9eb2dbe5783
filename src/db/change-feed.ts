import { z } from 'zod';
import type { Db, Sql } from './connection.js';

/** PostgreSQL NOTIFY channel on which every write to an athlete's data is announced (the API's SSE feed). */
export const CHANGE_CHANNEL = 'athlete_changes';

export const athleteChangeSchema = z.object({
  athleteId: z.number().int().positive(),
  kind: z.enum(['activities_upserted', 'activities_deleted', 'athlete_state', 'athlete_purged']),
  /** Ids affected, capped so a payload stays far below NOTIFY's 8000-byte limit. */
  activityIds: z.array(z.number().int()).max(200).optional(),
  count: z.number().int().nonnegative().optional(),
  at: z.string(),
});
export type AthleteChange = z.infer<typeof athleteChangeSchema>;

/** Publishes a change; inside a transaction it is delivered only if the transaction commits. */
export async function publishChange(sql: Db, change: Omit<AthleteChange, 'at'>): Promise<void> {
  const ids = change.activityIds?.slice(0, 200);
  const payload: AthleteChange = { ...change, ...(ids ? { activityIds: ids } : {}), at: new Date().toISOString() };
  await sql`select pg_notify(${CHANGE_CHANNEL}, ${JSON.stringify(payload)})`;
}

/** Subscribes to the change feed; returns an unsubscribe function. */
export async function listenChanges(sql: Sql, onChange: (change: AthleteChange) => void): Promise<() => Promise<void>> {
  const { unlisten } = await sql.listen(CHANGE_CHANNEL, (payload) => {
    const parsed = athleteChangeSchema.safeParse(JSON.parse(payload));
    if (parsed.success) onChange(parsed.data);
  });
  return unlisten;
}
