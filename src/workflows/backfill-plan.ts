/**
 * Budget-aware backfill interval (pure: runs inside the workflow and in unit tests).
 *
 * When the fleet's background backfills fit in the governor's background share of the day, every athlete uses
 * the base interval. Otherwise intervals stretch, weighted by how active an athlete is: an active athlete's
 * interval stretches least, a long-inactive athlete's most, so the budget goes where new activities appear.
 */

import { DAY_MS } from '../domain/durations.js';
import { ACTIVITY_CLASSES, type ActivityClass, type FleetLoad } from '../domain/fleet-load.js';

/** Relative stretch per class (dormant athletes are backfilled 8x less often than active ones when over budget). */
export const CLASS_WEIGHT: Record<ActivityClass, number> = { active: 1, recent: 3, dormant: 8 };

/** Longest interval, whatever the load: a backfill at least every two weeks. */
export const MAX_BACKFILL_INTERVAL_MS = 14 * DAY_MS;

/** Requests a routine backfill costs: one list page, and a little for the occasional second page. */
export const REQUESTS_PER_BACKFILL = 1.2;

export function backfillIntervalMs(baseMs: number, fleet: FleetLoad): number {
  const budget = Math.max(1, fleet.dailyBackgroundBudget);
  const perAthletePerDay = (intervalMs: number) => (DAY_MS / intervalMs) * REQUESTS_PER_BACKFILL;
  const total = ACTIVITY_CLASSES.reduce((sum, c) => sum + fleet.athletes[c], 0);
  if (total * perAthletePerDay(baseMs) <= budget) return baseMs;
  // Demand with the class weights applied and no common stretch yet; stretch scales it down to the budget.
  const weightedDemand = ACTIVITY_CLASSES.reduce((sum, c) => sum + fleet.athletes[c] * perAthletePerDay(baseMs * CLASS_WEIGHT[c]), 0);
  const stretch = weightedDemand / budget;
  const interval = baseMs * Math.max(1, stretch * CLASS_WEIGHT[fleet.athleteClass]);
  return Math.min(MAX_BACKFILL_INTERVAL_MS, Math.round(interval));
}

/** Spreads an interval by ±jitter using the given random number in [0, 1) (the workflow's deterministic Math.random). */
export function withJitter(intervalMs: number, jitter: number, random: number): number {
  return Math.max(1_000, Math.round(intervalMs * (1 + jitter * (2 * random - 1))));
}

/**
 * The delay until the next backfill: the budget-aware interval, jittered, and never beyond the two-week cap. The
 * cap is applied before the jitter (lowered by the jitter's upper bound) so capped athletes still spread out
 * instead of all landing on the cap, and none lands beyond it.
 */
export function nextBackfillDelayMs(baseMs: number, fleet: FleetLoad, jitter: number, random: number): number {
  const ceiling = MAX_BACKFILL_INTERVAL_MS / (1 + Math.max(0, jitter));
  return Math.min(MAX_BACKFILL_INTERVAL_MS, withJitter(Math.min(backfillIntervalMs(baseMs, fleet), ceiling), jitter, random));
}
