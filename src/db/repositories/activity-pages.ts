import type { Db } from '../connection.js';

/** One synced activity as the API lists it (typed columns; the full Strava JSON only on request). */
export interface ActivityListRow {
  id: number;
  name: string;
  sportType: string;
  startDate: Date;
  startDateLocal: string | null;
  timezone: string | null;
  distance: number;
  movingTime: number;
  elapsedTime: number;
  totalElevationGain: number;
  private: boolean;
  visibility: string | null;
  detailLevel: number;
  syncedAt: Date;
  raw?: unknown;
  /** Position of this row in the (start_date desc, id desc) order, microsecond precision, UTC. */
  cursorKey: string;
}

export interface ActivityPageQuery {
  limit: number;
  /** Only activities that started strictly after / before these instants. */
  after?: Date;
  before?: Date;
  /** Continue after this position (from the previous page's last row). */
  from?: { startDate: string; id: number };
  includeRaw?: boolean;
}

/**
 * Keyset paging, newest first, over the (athlete_id, start_date desc, id desc) index: stable while activities
 * are added or removed between pages. Reads one row more than asked to tell whether another page exists.
 */
export async function listActivityPage(
  sql: Db,
  athleteId: number,
  query: ActivityPageQuery,
): Promise<{ rows: ActivityListRow[]; more: boolean }> {
  const rows = await sql<ActivityListRow[]>`
    select id, name, sport_type as "sportType", start_date as "startDate",
           to_char(start_date_local, 'YYYY-MM-DD"T"HH24:MI:SS') as "startDateLocal", timezone, distance,
           moving_time as "movingTime", elapsed_time as "elapsedTime", total_elevation_gain as "totalElevationGain",
           private, visibility, detail_level as "detailLevel", synced_at as "syncedAt",
           ${query.includeRaw ? sql`raw,` : sql``}
           to_char(start_date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "cursorKey"
    from activities
    where athlete_id = ${athleteId}
      ${query.after ? sql`and start_date > ${query.after}` : sql``}
      ${query.before ? sql`and start_date < ${query.before}` : sql``}
      ${query.from ? sql`and (start_date, id) < (${query.from.startDate}::timestamptz, ${query.from.id})` : sql``}
    order by start_date desc, id desc
    limit ${query.limit + 1}`;
  return { rows: rows.slice(0, query.limit), more: rows.length > query.limit };
}
