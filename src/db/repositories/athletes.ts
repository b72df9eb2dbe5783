import { bigintArray, textArray, type Db, type Sql } from '../connection.js';
import { publishChange } from '../change-feed.js';
import { removeTombstones } from './activities.js';
import { deleteTokens } from './tokens.js';
import type { SyncState } from '../../domain/sync-types.js';

export interface AthleteRow {
  id: number;
  /** As Strava gave it at connect (attacker-controlled text); null before migration 011 or without one. */
  name: string | null;
  scopes: string[];
  state: SyncState;
  connectedAt: Date;
  revokedAt: Date | null;
  lastSyncAt: Date | null;
  lastBackfillAt: Date | null;
  updatedAt: Date;
}

const columns = (sql: Db) =>
  sql`id, name, scopes, state, connected_at as "connectedAt", revoked_at as "revokedAt", last_sync_at as "lastSyncAt",
      last_backfill_at as "lastBackfillAt", updated_at as "updatedAt"`;

/**
 * Records a (re)connected athlete: a reconnect clears a previous revocation and a pending disconnect request. A name
 * given replaces the stored one.
 */
export async function upsertConnectedAthlete(sql: Db, athleteId: number, scopes: string[], name?: string | null): Promise<AthleteRow> {
  const [row] = await sql<AthleteRow[]>`
    insert into athletes (id, scopes, state, connected_at, name)
    values (${athleteId}, ${textArray(sql, scopes)}, 'importing', now(), ${name ?? null})
    on conflict (id) do update set
      scopes = excluded.scopes,
      name = coalesce(excluded.name, athletes.name),
      connected_at = case when athletes.state = 'revoked' then now() else athletes.connected_at end,
      state = case when athletes.state in ('revoked', 'needs_reauth') then 'importing' else athletes.state end,
      revoked_at = null,
      disconnect_requested_at = null,
      updated_at = now()
    returning ${columns(sql)}`;
  return row!;
}

/** The athlete asked to disconnect (the workflow will deauthorize at Strava and purge, unless they come back first). */
export async function markDisconnectRequested(sql: Db, athleteId: number): Promise<void> {
  await sql`update athletes set disconnect_requested_at = now(), updated_at = now() where id = ${athleteId}`;
}

export async function getAthlete(sql: Db, athleteId: number): Promise<AthleteRow | undefined> {
  const [row] = await sql<AthleteRow[]>`select ${columns(sql)} from athletes where id = ${athleteId}`;
  return row;
}

export async function listAthletes(sql: Db, filter: { state?: SyncState; ids?: number[] } = {}): Promise<AthleteRow[]> {
  return sql<AthleteRow[]>`
    select ${columns(sql)} from athletes
    where true
    ${filter.state ? sql`and state = ${filter.state}` : sql``}
    ${filter.ids ? sql`and id = any(${bigintArray(sql, filter.ids)})` : sql``}
    order by id`;
}

export async function setAthleteState(sql: Db, athleteId: number, state: SyncState): Promise<void> {
  await sql`update athletes set state = ${state}, updated_at = now() where id = ${athleteId}`;
}

export async function recordSync(sql: Db, athleteId: number, at: Date, kind: 'sync' | 'backfill'): Promise<void> {
  await sql`
    update athletes set
      last_sync_at = greatest(last_sync_at, ${at}),
      last_backfill_at = ${kind === 'backfill' ? sql`greatest(last_backfill_at, ${at})` : sql`last_backfill_at`},
      updated_at = now()
    where id = ${athleteId}`;
}

/**
 * Deauthorization purge (Strava API agreement): tokens, synced activities and their delete tombstones go in one
 * transaction, announced on the change feed when it commits; the athlete row stays with state revoked so
 * operators can see what happened. `onlyIfDisconnectRequested` (the purge of a disconnect): nothing happens
 * unless the disconnect request still stands, i.e. the athlete did not connect again since (under the row lock,
 * so a reconnect commits either before, and is kept, or after, on a purged athlete).
 */
export async function purgeAthlete(
  sql: Sql,
  athleteId: number,
  options: { onlyIfDisconnectRequested?: boolean } = {},
): Promise<{ activitiesDeleted: number; purged: boolean }> {
  return sql.begin(async (tx) => {
    const [athlete] = await tx<{ disconnectRequestedAt: Date | null }[]>`
      select disconnect_requested_at as "disconnectRequestedAt" from athletes where id = ${athleteId} for update`;
    if (options.onlyIfDisconnectRequested && athlete && athlete.disconnectRequestedAt === null) return { activitiesDeleted: 0, purged: false };
    await deleteTokens(tx, athleteId);
    const deleted = await tx`delete from activities where athlete_id = ${athleteId}`;
    await removeTombstones(tx, athleteId);
    await tx`update athletes set state = 'revoked', revoked_at = now(), disconnect_requested_at = null, updated_at = now() where id = ${athleteId}`;
    await publishChange(tx, { athleteId, kind: 'athlete_purged', count: deleted.count });
    return { activitiesDeleted: deleted.count, purged: true };
  });
}
