import type { Db } from '../connection.js';

/**
 * SQL for the application-wide Strava rate budget (table strava_rate_budget, migration 002).
 * The policy (shares, pacing, wait times) lives in src/strava/rate-governor.ts; this module only stores counts.
 */

export type BudgetPriority = 'realtime' | 'interactive' | 'background';

export interface BudgetCounts {
  dayStart: number;
  windowStart: number;
  dayLimit: number;
  dayReserved: number;
  windowLimit: number;
  /** Reserved in the window starting at windowStart (0 when the stored window is older). */
  windowReserved: number;
  dayRealtime: number;
  dayInteractive: number;
  dayBackground: number;
}

export interface AcquireParams {
  dayStart: number;
  windowStart: number;
  cost: number;
  priority: BudgetPriority;
  /** Fraction of the window limit this priority may fill. */
  windowShare: number;
  /** What this priority may have reserved of the day by the end of the current window (rate-governor.ts dayTerms). */
  day: DayTerms;
  defaultWindowLimit: number;
  defaultDayLimit: number;
}

/** The day allowance is floor(least(day_limit x share, day_limit x pace + window_limit x headStart)). */
export interface DayTerms {
  share: number;
  pace: number;
  headStart: number;
}

export type AcquireResult = { ok: boolean; counts: BudgetCounts | undefined };

/**
 * Reserves `cost` requests in both the day and the current window, or nothing, in ONE statement: a single-row
 * INSERT ... ON CONFLICT DO UPDATE ... WHERE, so the check and the increment happen under the row lock and are
 * correct for any number of concurrent callers in any number of processes. A caller whose clock is behind the
 * stored window counts into the newer window (conservative); a newer window resets the window count.
 * On refusal the row as seen by the statement's snapshot is returned (for computing the wait; may be stale).
 */
export async function acquireBudget(sql: Db, p: AcquireParams): Promise<AcquireResult> {
  const rows = await sql<(BudgetCounts & { ok: boolean })[]>`
    with prev as (
      select window_limit, day_limit from strava_rate_budget order by day_start desc limit 1
    ), src as (
      select coalesce((select window_limit from prev), ${p.defaultWindowLimit}::int) as window_limit,
             coalesce((select day_limit from prev), ${p.defaultDayLimit}::int) as day_limit
    ), up as (
      insert into strava_rate_budget as b (day_start, day_limit, day_reserved, window_start, window_limit, window_reserved,
                                           day_realtime, day_interactive, day_background)
      select ${p.dayStart}::bigint, day_limit, ${p.cost}::int, ${p.windowStart}::bigint, window_limit, ${p.cost}::int,
             ${p.priority === 'realtime' ? p.cost : 0}::int, ${p.priority === 'interactive' ? p.cost : 0}::int,
             ${p.priority === 'background' ? p.cost : 0}::int
      from src
      where ${p.cost}::int <= floor(window_limit * ${p.windowShare}::float8)
        and ${p.cost}::int <= ${dayAllowanceOf(sql, p.day, sql`day_limit`, sql`window_limit`)}
      on conflict (day_start) do update set
        window_reserved = (case when b.window_start < excluded.window_start then 0 else b.window_reserved end) + excluded.window_reserved,
        window_start = greatest(b.window_start, excluded.window_start),
        day_reserved = b.day_reserved + excluded.day_reserved,
        day_realtime = b.day_realtime + excluded.day_realtime,
        day_interactive = b.day_interactive + excluded.day_interactive,
        day_background = b.day_background + excluded.day_background,
        updated_at = now()
      where (case when b.window_start < excluded.window_start then 0 else b.window_reserved end) + excluded.window_reserved
              <= floor(b.window_limit * ${p.windowShare}::float8)
        and b.day_reserved + excluded.day_reserved <= ${dayAllowanceOf(sql, p.day, sql`b.day_limit`, sql`b.window_limit`)}
      returning day_start as "dayStart", window_start as "windowStart", day_limit as "dayLimit",
        day_reserved as "dayReserved", window_limit as "windowLimit", window_reserved as "windowReserved",
        day_realtime as "dayRealtime", day_interactive as "dayInteractive", day_background as "dayBackground"
    )
    select true as ok, * from up
    union all
    select false as ok, day_start as "dayStart", greatest(window_start, ${p.windowStart}::bigint) as "windowStart",
           day_limit as "dayLimit", day_reserved as "dayReserved", window_limit as "windowLimit",
           case when window_start < ${p.windowStart}::bigint then 0 else window_reserved end as "windowReserved",
           day_realtime as "dayRealtime", day_interactive as "dayInteractive", day_background as "dayBackground"
    from strava_rate_budget
    where day_start = ${p.dayStart}::bigint and not exists (select 1 from up)`;
  const row = rows[0];
  if (!row) return { ok: false, counts: undefined };
  const { ok, ...counts } = row;
  return { ok, counts };
}

function dayAllowanceOf(sql: Db, terms: DayTerms, dayLimit: ReturnType<Db>, windowLimit: ReturnType<Db>) {
  return sql`floor(least(${dayLimit} * ${terms.share}::float8, ${dayLimit} * ${terms.pace}::float8 + ${windowLimit} * ${terms.headStart}::float8))`;
}

export interface ObserveParams {
  dayStart: number;
  windowStart: number;
  windowLimit: number;
  dayLimit: number;
  /** Strava's reported usage; null when the response belongs to another window/day than `now`. */
  windowUsage: number | null;
  dayUsage: number | null;
}

/** Learns limits from headers and corrects counts upward to Strava's usage; never lowers a count. */
export async function observeUsage(sql: Db, p: ObserveParams): Promise<void> {
  const windowUsage = p.windowUsage ?? 0;
  const dayUsage = p.dayUsage ?? 0;
  await sql`
    insert into strava_rate_budget as b (day_start, day_limit, day_reserved, window_start, window_limit, window_reserved)
    values (${p.dayStart}::bigint, ${p.dayLimit}::int, ${dayUsage}::int, ${p.windowStart}::bigint, ${p.windowLimit}::int, ${windowUsage}::int)
    on conflict (day_start) do update set
      day_limit = excluded.day_limit,
      window_limit = excluded.window_limit,
      day_reserved = greatest(b.day_reserved, excluded.day_reserved),
      window_reserved = case
        when b.window_start < excluded.window_start then excluded.window_reserved
        when b.window_start = excluded.window_start then greatest(b.window_reserved, excluded.window_reserved)
        else b.window_reserved end,
      window_start = greatest(b.window_start, excluded.window_start),
      updated_at = now()
    where b.day_limit <> excluded.day_limit or b.window_limit <> excluded.window_limit
       or b.day_reserved < excluded.day_reserved or b.window_start < excluded.window_start
       or (b.window_start = excluded.window_start and b.window_reserved < excluded.window_reserved)`;
}

/** After a 429 Strava answered anyway: nothing more is sent in this window (or this day). */
export async function markBudgetExhausted(
  sql: Db,
  p: { dayStart: number; windowStart: number; defaultWindowLimit: number; defaultDayLimit: number; scope: 'window' | 'day' },
): Promise<void> {
  const day = p.scope === 'day';
  await sql`
    with prev as (
      select window_limit, day_limit from strava_rate_budget order by day_start desc limit 1
    ), src as (
      select coalesce((select window_limit from prev), ${p.defaultWindowLimit}::int) as window_limit,
             coalesce((select day_limit from prev), ${p.defaultDayLimit}::int) as day_limit
    )
    insert into strava_rate_budget as b (day_start, day_limit, day_reserved, window_start, window_limit, window_reserved)
    select ${p.dayStart}::bigint, day_limit, ${day ? sql`day_limit` : sql`0`}, ${p.windowStart}::bigint, window_limit, window_limit
    from src
    on conflict (day_start) do update set
      window_reserved = greatest(case when b.window_start < excluded.window_start then 0 else b.window_reserved end, b.window_limit),
      window_start = greatest(b.window_start, excluded.window_start),
      day_reserved = ${day ? sql`greatest(b.day_reserved, b.day_limit)` : sql`b.day_reserved`},
      updated_at = now()`;
}

export async function readBudget(sql: Db, dayStart: number, windowStart: number): Promise<BudgetCounts | undefined> {
  const [row] = await sql<BudgetCounts[]>`
    select day_start as "dayStart", greatest(window_start, ${windowStart}::bigint) as "windowStart",
           day_limit as "dayLimit", day_reserved as "dayReserved", window_limit as "windowLimit",
           case when window_start < ${windowStart}::bigint then 0 else window_reserved end as "windowReserved",
           day_realtime as "dayRealtime", day_interactive as "dayInteractive", day_background as "dayBackground"
    from strava_rate_budget where day_start = ${dayStart}::bigint`;
  return row;
}

/** The most recently learned limits (for days that have no row yet). */
export async function latestLimits(sql: Db): Promise<{ windowLimit: number; dayLimit: number } | undefined> {
  const [row] = await sql<{ windowLimit: number; dayLimit: number }[]>`
    select window_limit as "windowLimit", day_limit as "dayLimit" from strava_rate_budget order by day_start desc limit 1`;
  return row;
}
