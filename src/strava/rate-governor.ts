import type { Db } from '../db/connection.js';
import {
  acquireBudget,
  markBudgetExhausted,
  observeUsage,
  readBudget,
  latestLimits,
  type BudgetCounts,
  type BudgetPriority,
  type DayTerms,
} from '../db/repositories/rate-budget.js';
import { DAY_MS } from '../domain/durations.js';
import { budgetPair, dayStart, FIFTEEN_MINUTES_MS, windowStart, type RateUsage } from './rate-headers.js';

/**
 * One Strava rate budget for the whole application, kept in PostgreSQL and shared by every process.
 *
 * Policy (per priority, both conditions must hold; all counts include every priority):
 * - realtime (webhook fetches, sync now): the full 15-minute window and the full day.
 * - interactive (app focus): `interactiveShare` of each window and of the day.
 * - background (backfill, history import): `backgroundShare` of each window, and a daily PACE: by the end of
 *   window i (0..95) of the UTC day, the day's total may reach
 *   `min(backgroundShare x dayLimit, backgroundShare x (dayLimit x (i+1)/96 + windowLimit))`. A backlog
 *   therefore spreads over the day instead of burning the day's quota by breakfast, and every window and the
 *   rest of every day keep at least (1 - backgroundShare) of the budget for realtime: realtime cannot starve.
 *   The head start (one window's background share on top of the pace) is there because the pace alone allows
 *   almost nothing right after midnight (6 requests in window 0 at 1,000 a day): an import or backfill due at
 *   00:05 would otherwise wait out window 0 although the window itself has room.
 * A refusal says how long to wait: to the next window boundary, to the next window where the pace allows
 * the call (background), or to UTC midnight when the day is spent.
 */

export type { Priority } from '../domain/sync-types.js';
type Priority = BudgetPriority;

export type AcquireResult = { ok: true } | { ok: false; waitMs: number; reason: string };

export interface RateGovernorOptions {
  sql: Db;
  backgroundShare: number;
  interactiveShare: number;
  defaultLimits: { fifteenMinute: number; daily: number };
  /** Epoch ms; injectable so tests can follow the emulator's controlled clock. */
  now?: () => number;
}

export interface PriorityAllowance {
  window: number;
  day: number;
}

export interface RateSnapshot {
  at: number;
  windowStart: number;
  dayStart: number;
  window: { limit: number; used: number };
  day: { limit: number; used: number };
  usedByPriority: Record<Priority, number>;
  /** How many requests each priority may have reserved right now (window, day). */
  allowed: Record<Priority, PriorityAllowance>;
  /** Refusals by this process since it started. */
  refused: Record<Priority, number>;
}

export interface RateGovernor {
  acquire(priority: Priority, cost?: number): Promise<AcquireResult>;
  /** Feed a response's usage headers. `sentAt` (epoch ms, governor clock): corrections only apply to windows containing it. */
  observe(usage: RateUsage, sentAt?: number): Promise<void>;
  /** A 429 came back anyway: the current window (or day) is full. */
  markExhausted(scope?: 'window' | 'day'): Promise<void>;
  snapshot(): Promise<RateSnapshot>;
  now(): number;
}

const WINDOWS_PER_DAY = DAY_MS / FIFTEEN_MINUTES_MS;

/**
 * How much of the day a priority may have reserved by the end of window `windowIndex`:
 * `floor(min(dayLimit x share, dayLimit x pace + windowLimit x headStart))` (see the policy above).
 */
export function dayTerms(
  priority: Priority,
  windowIndex: number,
  shares: Pick<RateGovernorOptions, 'backgroundShare' | 'interactiveShare'>,
): DayTerms {
  if (priority === 'realtime') return { share: 1, pace: 1, headStart: 0 };
  if (priority === 'interactive') return { share: shares.interactiveShare, pace: shares.interactiveShare, headStart: 0 };
  const share = shares.backgroundShare;
  return { share, pace: (share * (windowIndex + 1)) / WINDOWS_PER_DAY, headStart: share };
}

/** The day allowance the terms give under the given limits (the SQL in rate-budget.ts computes the same). */
export function dayAllowance(terms: DayTerms, limits: { windowLimit: number; dayLimit: number }): number {
  return Math.floor(Math.min(limits.dayLimit * terms.share, limits.dayLimit * terms.pace + limits.windowLimit * terms.headStart));
}

export function createRateGovernor(options: RateGovernorOptions): RateGovernor {
  const { sql, defaultLimits } = options;
  const now = options.now ?? Date.now;
  const refused: Record<Priority, number> = { realtime: 0, interactive: 0, background: 0 };

  const windowShare = (priority: Priority) =>
    priority === 'realtime' ? 1 : priority === 'interactive' ? options.interactiveShare : options.backgroundShare;
  const termsAt = (priority: Priority, windowIndex: number) => dayTerms(priority, windowIndex, options);

  /** The stored counts of the day, or zero counts under the latest learned (else default) limits when it has no row. */
  async function countsAt(ds: number, ws: number): Promise<BudgetCounts> {
    const stored = await readBudget(sql, ds, ws);
    if (stored) return stored;
    const limits = (await latestLimits(sql)) ?? { windowLimit: defaultLimits.fifteenMinute, dayLimit: defaultLimits.daily };
    return { dayStart: ds, windowStart: ws, dayReserved: 0, windowReserved: 0, dayRealtime: 0, dayInteractive: 0, dayBackground: 0, ...limits };
  }

  /** Where the priority may next proceed, given the counts that refused it. */
  function waitFor(priority: Priority, cost: number, counts: BudgetCounts, at: number): { waitMs: number; reason: string } {
    const day = counts.dayStart;
    const index = Math.floor((counts.windowStart - day) / FIFTEEN_MINUTES_MS);
    const windowFull = counts.windowReserved + cost > Math.floor(counts.windowLimit * windowShare(priority));
    const dayFull = counts.dayReserved + cost > dayAllowance(termsAt(priority, index), counts);
    let boundary: number;
    let reason: string;
    if (dayFull) {
      reason = priority === 'background' ? 'background daily pace reached' : `${priority} daily budget spent`;
      boundary = day + DAY_MS;
      if (priority === 'background') {
        for (let j = index + 1; j < WINDOWS_PER_DAY; j++) {
          if (counts.dayReserved + cost <= dayAllowance(termsAt(priority, j), counts)) {
            boundary = day + j * FIFTEEN_MINUTES_MS;
            break;
          }
        }
      }
    } else if (windowFull) {
      reason = priority === 'realtime' ? '15-minute window limit reached' : `${priority} share of the 15-minute window spent`;
      boundary = counts.windowStart + FIFTEEN_MINUTES_MS;
    } else {
      // Raced with another caller between snapshot and lock; the window is the usual cause.
      reason = `${priority} share of the 15-minute window spent`;
      boundary = counts.windowStart + FIFTEEN_MINUTES_MS;
    }
    return { waitMs: Math.max(1, boundary - at), reason };
  }

  return {
    now,

    async acquire(priority, cost = 1) {
      const at = now();
      const ws = windowStart(at);
      const ds = dayStart(at);
      const index = (ws - ds) / FIFTEEN_MINUTES_MS;
      const result = await acquireBudget(sql, {
        dayStart: ds,
        windowStart: ws,
        cost,
        priority,
        windowShare: windowShare(priority),
        day: termsAt(priority, index),
        defaultWindowLimit: defaultLimits.fifteenMinute,
        defaultDayLimit: defaultLimits.daily,
      });
      if (result.ok) return { ok: true };
      refused[priority]++;
      // No row seen by the statement (the day row did not exist yet): read it fresh.
      const counts = result.counts ?? (await countsAt(ds, ws));
      return { ok: false, ...waitFor(priority, cost, counts, at) };
    },

    async observe(usage, sentAt) {
      const pair = budgetPair(usage);
      if (!pair) return;
      const at = now();
      const ws = windowStart(at);
      const ds = dayStart(at);
      // A response sent before a boundary reports the previous window's usage: do not charge it to the new one.
      const sameWindow = sentAt === undefined || windowStart(sentAt) === ws;
      const sameDay = sentAt === undefined || dayStart(sentAt) === ds;
      await observeUsage(sql, {
        dayStart: ds,
        windowStart: ws,
        windowLimit: pair.limit.fifteenMinute,
        dayLimit: pair.limit.daily,
        windowUsage: sameWindow ? pair.usage.fifteenMinute : null,
        dayUsage: sameDay ? pair.usage.daily : null,
      });
    },

    async markExhausted(scope = 'window') {
      const at = now();
      await markBudgetExhausted(sql, {
        dayStart: dayStart(at),
        windowStart: windowStart(at),
        defaultWindowLimit: defaultLimits.fifteenMinute,
        defaultDayLimit: defaultLimits.daily,
        scope,
      });
    },

    async snapshot() {
      const at = now();
      const ws = windowStart(at);
      const ds = dayStart(at);
      const index = (ws - ds) / FIFTEEN_MINUTES_MS;
      const counts = await countsAt(ds, ws);
      const allowance = (p: Priority): PriorityAllowance => ({
        window: Math.floor(counts.windowLimit * windowShare(p)),
        day: dayAllowance(termsAt(p, index), counts),
      });
      return {
        at,
        windowStart: ws,
        dayStart: ds,
        window: { limit: counts.windowLimit, used: counts.windowReserved },
        day: { limit: counts.dayLimit, used: counts.dayReserved },
        usedByPriority: { realtime: counts.dayRealtime, interactive: counts.dayInteractive, background: counts.dayBackground },
        allowed: { realtime: allowance('realtime'), interactive: allowance('interactive'), background: allowance('background') },
        refused: { ...refused },
      };
    },
  };
}

/**
 * Requests per day background work may spend, from the daily limit the governor knows: the one Strava's headers
 * reported (learned and persisted), the configured default until then. The backfill planner budgets with this,
 * so it plans for the limits the governor enforces.
 */
export async function learnedDailyBackgroundBudget(governor: Pick<RateGovernor, 'snapshot'>, backgroundShare: number): Promise<number> {
  return (await governor.snapshot()).day.limit * backgroundShare;
}
