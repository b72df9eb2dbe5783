import { bigintArray, type Db, type Sql } from '../connection.js';
import { publishChange } from '../change-feed.js';
import type { SummaryActivity } from '../../domain/strava-objects.js';
import type { ActivityRecency } from '../../domain/fleet-load.js';

/** detail_level values (001_initial.sql): a list page gives a summary, GET /activities/{id} the detail. */
export const DETAIL_LEVEL = { summary: 2, detail: 3 } as const;
export type DetailLevel = (typeof DETAIL_LEVEL)[keyof typeof DETAIL_LEVEL];

export interface UpsertOutcome {
  added: number[];
  /** Rows rewritten because a typed column or (at equal or richer detail) the raw JSON changed. */
  updated: number[];
  /** Rows whose name, sport type or `private` flag changed: what a webhook would have announced (title, type, private). */
  webhookFieldsChanged: number[];
  /** Not written: a newer delete is recorded, or the id belongs to another athlete. */
  skipped: number[];
}

interface StoredTyped {
  id: number;
  athleteId: number;
  name: string;
  sportType: string;
  private: boolean;
  visibility: string | null;
}

function row(athleteId: number, activity: SummaryActivity, detailLevel: DetailLevel) {
  return {
    id: activity.id,
    athlete_id: athleteId,
    name: activity.name,
    sport_type: activity.sport_type || activity.type || 'Workout',
    start_date: activity.start_date,
    // Strava writes local times with a misleading "Z"; the column is a timestamp without zone.
    start_date_local: activity.start_date_local ? activity.start_date_local.replace(/Z$/, '') : null,
    timezone: activity.timezone ?? null,
    distance: activity.distance,
    moving_time: Math.round(activity.moving_time),
    elapsed_time: Math.round(activity.elapsed_time),
    total_elevation_gain: activity.total_elevation_gain,
    private: activity.private,
    visibility: activity.visibility ?? null,
    detail_level: detailLevel,
    raw: activity,
  };
}

/**
 * Upserts activities of one athlete by Strava id, in one transaction with one NOTIFY.
 * - A summary (list page) never replaces the raw JSON of a stored detail; typed columns update from either.
 * - `notBefore(id)` gives the time an observation must be newer than to count: activities whose tombstone is
 *   at or after it are skipped (a delete is not undone by an older observation). Written ids lose their tombstone.
 */
export async function upsertActivities(
  sql: Sql,
  athleteId: number,
  activities: SummaryActivity[],
  options: { detailLevel: DetailLevel; observedAt: Date },
): Promise<UpsertOutcome> {
  const outcome: UpsertOutcome = { added: [], updated: [], webhookFieldsChanged: [], skipped: [] };
  if (activities.length === 0) return outcome;
  // One row per id: a page boundary overlap may list an activity twice.
  const unique = [...new Map(activities.map((a) => [a.id, a])).values()];
  const ids = unique.map((a) => a.id);
  return sql.begin(async (tx) => {
    // A tombstone counts at most from when it was recorded: an observation made after that always wins.
    const tombstones = await tx<{ id: number; deletedAt: Date }[]>`
      select activity_id as id, least(deleted_at, recorded_at) as "deletedAt" from activity_tombstones
      where activity_id = any(${bigintArray(tx, ids)}) and athlete_id = ${athleteId} for update`;
    const blocked = new Set(tombstones.filter((t) => t.deletedAt.getTime() >= options.observedAt.getTime()).map((t) => t.id));
    const writable = unique.filter((a) => !blocked.has(a.id));
    outcome.skipped.push(...blocked);
    if (writable.length === 0) return outcome;
    const writableIds = bigintArray(tx, writable.map((a) => a.id));

    const stored = await tx<StoredTyped[]>`
      select id, athlete_id as "athleteId", name, sport_type as "sportType", private, visibility
      from activities where id = any(${writableIds})`;
    const before = new Map(stored.map((s) => [s.id, s]));
    const rows = writable.map((a) => row(athleteId, a, options.detailLevel));
    const rowById = new Map(rows.map((r) => [r.id, r]));

    const written = await tx<{ id: number; inserted: boolean }[]>`
      insert into activities (id, athlete_id, name, sport_type, start_date, start_date_local, timezone, distance,
                              moving_time, elapsed_time, total_elevation_gain, private, visibility, detail_level, raw)
      select id, athlete_id, name, sport_type, start_date, start_date_local, timezone, distance,
             moving_time, elapsed_time, total_elevation_gain, private, visibility, detail_level, raw
      from jsonb_to_recordset(${tx.json(rows as never)}) as r(
        id bigint, athlete_id bigint, name text, sport_type text, start_date timestamptz, start_date_local timestamp,
        timezone text, distance double precision, moving_time integer, elapsed_time integer,
        total_elevation_gain double precision, private boolean, visibility text, detail_level smallint, raw jsonb)
      on conflict (id) do update set
        name = excluded.name,
        sport_type = excluded.sport_type,
        start_date = excluded.start_date,
        start_date_local = excluded.start_date_local,
        timezone = excluded.timezone,
        distance = excluded.distance,
        moving_time = excluded.moving_time,
        elapsed_time = excluded.elapsed_time,
        total_elevation_gain = excluded.total_elevation_gain,
        private = excluded.private,
        visibility = excluded.visibility,
        raw = case when excluded.detail_level >= activities.detail_level then excluded.raw else activities.raw end,
        detail_level = greatest(activities.detail_level, excluded.detail_level),
        synced_at = now()
      where activities.athlete_id = excluded.athlete_id
        and ((activities.name, activities.sport_type, activities.start_date, activities.start_date_local,
              activities.timezone, activities.distance, activities.moving_time, activities.elapsed_time,
              activities.total_elevation_gain, activities.private, activities.visibility)
             is distinct from
             (excluded.name, excluded.sport_type, excluded.start_date, excluded.start_date_local,
              excluded.timezone, excluded.distance, excluded.moving_time, excluded.elapsed_time,
              excluded.total_elevation_gain, excluded.private, excluded.visibility)
          or excluded.detail_level > activities.detail_level
          or (excluded.detail_level = activities.detail_level and activities.raw is distinct from excluded.raw))
      returning id, (xmax = 0) as inserted`;

    for (const w of written) {
      if (w.inserted) {
        outcome.added.push(w.id);
        continue;
      }
      outcome.updated.push(w.id);
      const old = before.get(w.id);
      const now = rowById.get(w.id)!;
      // Visibility between everyone and followers sends no webhook (only `private`, i.e. only_me, does): such a
      // change found by a list is not a webhook Strava failed to deliver, and must not make webhooks look lossy.
      if (old && (old.name !== now.name || old.sportType !== now.sport_type || old.private !== now.private)) {
        outcome.webhookFieldsChanged.push(w.id);
      }
    }
    for (const s of stored) if (s.athleteId !== athleteId) outcome.skipped.push(s.id);
    await tx`delete from activity_tombstones where activity_id = any(${writableIds}) and athlete_id = ${athleteId}`;
    const changed = [...outcome.added, ...outcome.updated];
    if (changed.length > 0) {
      await publishChange(tx, { athleteId, kind: 'activities_upserted', activityIds: changed, count: changed.length });
    }
    return outcome;
  });
}

/**
 * Deletes activities and records tombstones (kept at the newest delete time, never later than the moment they
 * are recorded, so no delete time can outrank a later observation), with one NOTIFY. Ids stored for another
 * athlete get no tombstone here: one athlete's events never touch another's activities.
 */
export async function removeActivities(sql: Sql, athleteId: number, ids: number[], deletedAt: Date): Promise<number[]> {
  if (ids.length === 0) return [];
  return sql.begin(async (tx) => {
    const tombstones = ids.map((id) => ({ activity_id: id, athlete_id: athleteId, deleted_at: deletedAt.toISOString() }));
    await tx`
      insert into activity_tombstones (activity_id, athlete_id, deleted_at)
      select t.activity_id, t.athlete_id, least(t.deleted_at, now())
      from jsonb_to_recordset(${tx.json(tombstones as never)}) as t(activity_id bigint, athlete_id bigint, deleted_at timestamptz)
      where not exists (select 1 from activities a where a.id = t.activity_id and a.athlete_id <> t.athlete_id)
      on conflict (activity_id) do update set
        deleted_at = least(greatest(activity_tombstones.deleted_at, excluded.deleted_at), now()), recorded_at = now()
      where activity_tombstones.athlete_id = excluded.athlete_id`;
    const deleted = await tx<{ id: number }[]>`
      delete from activities where athlete_id = ${athleteId} and id = any(${bigintArray(tx, ids)}) returning id`;
    const deletedIds = deleted.map((d) => d.id);
    if (deletedIds.length > 0) {
      await publishChange(tx, { athleteId, kind: 'activities_deleted', activityIds: deletedIds, count: deletedIds.length });
    }
    return deletedIds;
  });
}

/**
 * Deletes the athlete's "Only You" activities (an athlete who now grants activity:read without activity:read_all:
 * Strava no longer shows them to the app). No tombstones: Strava announces one that becomes visible again with a
 * `create`, and until then no fetch or list returns it.
 */
export async function removeOnlyYouActivities(sql: Db, athleteId: number): Promise<number[]> {
  const deleted = await sql<{ id: number }[]>`
    delete from activities
    where athlete_id = ${athleteId} and (private or visibility = 'only_me')
    returning id`;
  const ids = deleted.map((d) => d.id);
  if (ids.length > 0) await publishChange(sql, { athleteId, kind: 'activities_deleted', activityIds: ids, count: ids.length });
  return ids;
}

/**
 * The athlete's recorded delete time of an activity, if any (never later than when it was recorded). Another
 * athlete's tombstone for the same id (a forged event naming someone else's activity) never counts.
 */
export async function tombstoneOf(sql: Db, athleteId: number, activityId: number): Promise<Date | undefined> {
  const [row] = await sql<{ deletedAt: Date }[]>`
    select least(deleted_at, recorded_at) as "deletedAt" from activity_tombstones
    where activity_id = ${activityId} and athlete_id = ${athleteId}`;
  return row?.deletedAt;
}

/** Ids of the athlete's stored activities that started at or after `since` (a backfill's reconciliation window). */
export async function activityIdsStartedSince(sql: Db, athleteId: number, since: Date): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select id from activities where athlete_id = ${athleteId} and start_date >= ${since}`;
  return rows.map((r) => r.id);
}

/** How many activities are stored for the athlete (shown in the workflow's details in the Temporal UI). */
export async function countActivities(sql: Db, athleteId: number): Promise<number> {
  const [row] = await sql<[{ count: number }]>`select count(*)::int as count from activities where athlete_id = ${athleteId}`;
  return row.count;
}

/**
 * Latest activity start of every connected athlete (null when none) and how many activities started since `since`:
 * input of the budget-aware backfill interval (one index range scan per athlete: activities_athlete_start).
 * `only`: just these athletes (those connected since the last full read).
 */
export async function activityRecencies(sql: Db, since: Date, only?: readonly number[]): Promise<({ athleteId: number } & ActivityRecency)[]> {
  return sql<({ athleteId: number } & ActivityRecency)[]>`
    select a.id as "athleteId",
           (select max(start_date) from activities x where x.athlete_id = a.id) as "latestStart",
           (select count(*)::int from activities x where x.athlete_id = a.id and x.start_date >= ${since}) as "uploadsInWindow"
    from athletes a
    where a.state <> 'revoked' ${only ? sql`and a.id = any(${bigintArray(sql, only)})` : sql``}`;
}

/**
 * Ids of the connected (not revoked) athletes, as one comma-separated text value: a single row however large the
 * fleet, so reading the fleet's membership on every backfill plan stays a few milliseconds at 10,000 athletes.
 */
export async function connectedAthleteIds(sql: Db): Promise<Set<number>> {
  const [row] = await sql<[{ ids: string | null }]>`select string_agg(id::text, ',') as ids from athletes where state <> 'revoked'`;
  return new Set(row.ids ? row.ids.split(',').map(Number) : []);
}

/** Deletes the athlete's tombstones (purge on deauthorization). */
export async function removeTombstones(sql: Db, athleteId: number): Promise<void> {
  await sql`delete from activity_tombstones where athlete_id = ${athleteId}`;
}

/** Stored activities per athlete (athletes without any are absent). */
export async function countActivitiesByAthlete(sql: Db): Promise<Map<number, number>> {
  const rows = await sql<{ athleteId: number; count: number }[]>`
    select athlete_id as "athleteId", count(*)::int as count from activities group by athlete_id`;
  return new Map(rows.map((row) => [row.athleteId, row.count]));
}
