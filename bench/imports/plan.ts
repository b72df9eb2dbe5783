/**
 * What both cases of the import benchmark (issue 15, benchmark 6) share: the fleet of importing athletes, the
 * number of list requests an import needs (the floor, and what the service's paging takes), the ideal time the
 * budget allows, and the per-window accounting of background requests against the share the governor gives.
 * The budget arithmetic is the governor's own (dayTerms / dayAllowance from src/strava/rate-governor.ts).
 */
import type { Sql } from '../../src/db/connection.js';
import { DAY_MS } from '../../src/domain/durations.js';
import type { Counters } from '../../src/emulator/counters.js';
import { dayAllowance, dayTerms } from '../../src/strava/rate-governor.js';
import { FIFTEEN_MINUTES_MS, dayStart, windowStart } from '../../src/strava/rate-headers.js';

/** The import's page size (the workflow's importPageSize: Strava's maximum). */
export const PER_PAGE = 200;
export const WINDOW_MS = FIFTEEN_MINUTES_MS;

/**
 * `count` history sizes spread evenly over [min, max] (both ends included: 5,000 is the 26-request case),
 * in a seeded shuffled order so sizes do not follow athlete ids.
 */
export function importerSizes(count: number, min: number, max: number, seed = 6): number[] {
  const sizes = Array.from({ length: count }, (_, i) => (count === 1 ? max : Math.round(min + ((max - min) * i) / (count - 1))));
  let state = seed >>> 0 || 1;
  const random = () => ((state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  return sizes;
}

/** The fewest list requests that can prove an n-activity history complete: the full pages and one short (or empty) page. */
export const floorPages = (n: number): number => Math.floor(n / PER_PAGE) + 1;

/**
 * What the service's import takes (src/workflows/sync-steps.ts importPage): each next page is listed `before` the
 * previous page's oldest start + 1 s, so the boundary activity is listed again (correct when several share that
 * second), and a page shorter than PER_PAGE ends the import. Every page after the first brings PER_PAGE - 1 new ones.
 */
export const servicePages = (n: number): number => (n < PER_PAGE ? 1 : 2 + Math.floor((n - PER_PAGE) / (PER_PAGE - 1)));

export interface BudgetShape {
  windowLimit: number;
  dayLimit: number;
  backgroundShare: number;
  interactiveShare: number;
}

const backgroundWindowCap = (b: BudgetShape) => Math.floor(b.windowLimit * b.backgroundShare);
const backgroundDayCap = (b: BudgetShape, windowIndex: number) =>
  dayAllowance(dayTerms('background', windowIndex, b), { windowLimit: b.windowLimit, dayLimit: b.dayLimit });

/** One 15-minute window of the run, on the governor's clock. */
export interface WindowUse {
  windowStart: number;
  background: number;
  /** Realtime and interactive requests in the window (they count against background's caps too). */
  other: number;
  /**
   * What background may bring the window's total (every priority) to: the least of its window share and what its
   * day allowance (pace + head start) leaves after the day's earlier windows. 0: the day's background share is spent.
   */
  cap: number;
  /** Imports were still unfinished when the window ended (or the run ended in it with imports waiting). */
  backlog: boolean;
}

/** How much of background's cap the window's total reached (1 when it got there; a window with cap 0 counts as 1). */
export const capReached = (w: WindowUse): number => (w.cap === 0 ? 1 : Math.min(1, (w.background + w.other) / w.cap));

/**
 * Requests per window from the sync history (sync_runs: requests per attempt, started_at on the governor's clock),
 * from the window holding `from` to the one holding `until`. `importDoneAt`: when the last import completed.
 */
export async function windowsFromHistory(sql: Sql, budget: BudgetShape, from: number, until: number, importDoneAt: number | null): Promise<WindowUse[]> {
  const rows = await sql<{ w: string; background: number; other: number }[]>`
    select (floor(extract(epoch from started_at) * 1000 / ${WINDOW_MS}) * ${WINDOW_MS})::bigint::text as w,
           coalesce(sum(requests) filter (where trigger in ('import_page', 'backfill')), 0)::int as background,
           coalesce(sum(requests) filter (where trigger not in ('import_page', 'backfill')), 0)::int as other
    from sync_runs group by 1`;
  const byWindow = new Map(rows.map((r) => [Number(r.w), r]));
  const windows: WindowUse[] = [];
  const usedBeforeDay = new Map<number, number>();
  for (const [w, r] of byWindow) if (w < windowStart(from)) usedBeforeDay.set(dayStart(w), (usedBeforeDay.get(dayStart(w)) ?? 0) + r.background + r.other);
  for (let w = windowStart(from); w <= windowStart(until); w += WINDOW_MS) {
    const row = byWindow.get(w);
    const background = row?.background ?? 0;
    const other = row?.other ?? 0;
    const ds = dayStart(w);
    const dayBefore = usedBeforeDay.get(ds) ?? 0;
    const cap = Math.max(0, Math.min(backgroundWindowCap(budget), backgroundDayCap(budget, (w - ds) / WINDOW_MS) - dayBefore));
    windows.push({ windowStart: w, background, other, cap, backlog: importDoneAt === null || importDoneAt >= w + WINDOW_MS });
    usedBeforeDay.set(ds, dayBefore + background + other);
  }
  return windows;
}

/**
 * The earliest moment the budget lets the last of `pages` background requests go, starting at `from`, if requests
 * took no time: window by window, background takes the least of its window share and its day allowance, both
 * counting what the other priorities used in that window (`others`: window start -> requests; the realtime the run
 * actually had, or none). The "total pages / allowed rate" is `simpleIdealMs`; this bound is what the
 * window granularity, the head start and realtime's use of the same caps make of it.
 */
export function budgetBoundMs(budget: BudgetShape, pages: number, from: number, others: ReadonlyMap<number, number> = new Map()): number {
  let left = pages;
  let dayUsed = 0;
  let day = dayStart(from);
  for (let w = windowStart(from); ; w += WINDOW_MS) {
    if (dayStart(w) !== day) {
      day = dayStart(w);
      dayUsed = 0;
    }
    const other = others.get(w) ?? 0;
    const index = (w - day) / WINDOW_MS;
    const take = Math.max(0, Math.min(backgroundWindowCap(budget) - other, backgroundDayCap(budget, index) - dayUsed - other, left));
    left -= take;
    dayUsed += take + other;
    if (left <= 0) return Math.max(from, w) - from;
    if (w - from > 60 * DAY_MS) throw new Error('budget bound: more than 60 days');
  }
}

/** Background requests per ms the budget allows in the long run: the least of the window share and the daily share. */
export const allowedBackgroundRatePerMs = (b: BudgetShape): number =>
  Math.min((b.windowLimit * b.backgroundShare) / WINDOW_MS, (b.dayLimit * b.backgroundShare) / DAY_MS);

export const simpleIdealMs = (b: BudgetShape, pages: number): number => pages / allowedBackgroundRatePerMs(b);

/** Import requests per athlete from the sync history (every attempt; a refused one used none). */
export async function importRequestsByAthlete(sql: Sql): Promise<Map<number, { requests: number; refused: number; failed: number; doneAt: number | null }>> {
  const rows = await sql<{ athleteId: string; requests: number; refused: number; failed: number; lastOk: Date | null; lastOkMs: number | null }[]>`
    select athlete_id::text as "athleteId", sum(requests)::int as requests,
           count(*) filter (where outcome = 'rate_limited')::int as refused,
           count(*) filter (where outcome = 'failed')::int as failed,
           max(started_at + duration_ms * interval '1 millisecond') filter (where outcome = 'ok') as "lastOk"
    from sync_runs where activity = 'import_page' group by 1`;
  return new Map(rows.map((r) => [Number(r.athleteId), { requests: r.requests, refused: r.refused, failed: r.failed, doneAt: r.lastOk ? r.lastOk.getTime() : null }]));
}

/** GET /athlete/activities requests the emulator served so far, any status (its counters). */
export const listRequestsServed = (counters: Counters): number =>
  Object.entries(counters.requests)
    .filter(([endpoint]) => endpoint.includes('/athlete/activities'))
    .reduce((n, [, byStatus]) => n + Object.values(byStatus).reduce((a, b) => a + b, 0), 0);

export interface ImportOutcome {
  athleteId: number;
  activities: number;
  floor: number;
  servicePages: number;
  requests: number;
  refused: number;
  failed: number;
  /** ms after the start; null: not completed. */
  doneAfterMs: number | null;
}

/** Each import's requests against its floor and its completion time (from `startAt`, governor clock), and the totals. */
export async function importOutcomes(sql: Sql, importers: { id: number; size: number }[], startAt: number, completed: ReadonlySet<number>) {
  const byAthlete = await importRequestsByAthlete(sql);
  const imports = importers.map(({ id, size }): ImportOutcome => {
    const r = byAthlete.get(id);
    const doneAfterMs = completed.has(id) && r?.doneAt != null ? r.doneAt - startAt : null;
    return { athleteId: id, activities: size, floor: floorPages(size), servicePages: servicePages(size), requests: r?.requests ?? 0, refused: r?.refused ?? 0, failed: r?.failed ?? 0, doneAfterMs };
  });
  return {
    imports,
    totalPages: imports.reduce((n, i) => n + i.requests, 0),
    totalFloor: imports.reduce((n, i) => n + i.floor, 0),
    lastImportMs: imports.every((i) => i.doneAfterMs !== null) ? Math.max(...imports.map((i) => i.doneAfterMs!)) : null,
  };
}

export const fmtDuration = (ms: number): string =>
  ms >= 2 * 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`;
