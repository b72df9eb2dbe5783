import type { Db } from '../connection.js';
import type { RefreshOutcome } from '../../domain/sync-history.js';

/** One token refresh the vault sent to Strava (migration 009). */
export interface TokenRefreshInput {
  athleteId: number;
  outcome: RefreshOutcome;
  /** The Strava error kind of a failed refresh (src/strava/errors.ts); null when it succeeded. */
  errorKind: string | null;
  /** Strava's HTTP status when it answered; null when no answer came (or it succeeded). */
  httpStatus: number | null;
  durationMs: number;
}

export async function recordTokenRefresh(sql: Db, refresh: TokenRefreshInput): Promise<void> {
  await sql`
    insert into token_refreshes (athlete_id, outcome, error_kind, http_status, duration_ms)
    values (${refresh.athleteId}, ${refresh.outcome}, ${refresh.errorKind}, ${refresh.httpStatus}, ${Math.round(refresh.durationMs)})`;
}

/** Deletes up to `limit` refreshes older than `before` (rows another pruner holds are skipped); returns how many went. */
export async function pruneTokenRefreshes(sql: Db, before: Date, limit: number): Promise<number> {
  const [row] = await sql<{ deleted: number }[]>`
    with doomed as (
      select id from token_refreshes where at < ${before} order by at limit ${limit} for update skip locked
    ), deleted as (
      delete from token_refreshes t using doomed where t.id = doomed.id returning 1
    )
    select count(*)::int as deleted from deleted`;
  return row?.deleted ?? 0;
}
