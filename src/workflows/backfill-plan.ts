/**
 * Budget-aware backfill interval (pure: runs inside the workflow and in unit tests).
 *
 * When the fleet's background backfills fit in the governor's background share of the day, every athlete uses
 * the base interval. Otherwise intervals stretch, weighted by how active an athlete is: an active athlete's
 * interval stretches least, a long-inactive athlete's most, so the budget goes where new activities appear.
 */

import { DAY_MS } from '../domain/durations.js';
import { ACTIVITY_CLASSES, type ActivityClass, type FleetLoad, type WebhookEvidence } from '../domain/fleet-load.js';

/** Relative stretch per class (dormant athletes are backfilled 8x less often than active ones when over budget). */
export const CLASS_WEIGHT: Record<ActivityClass, number> = { active: 1, recent: 3, dormant: 8 };

/** Longest interval, whatever the load: a backfill at least every two weeks. */
export const MAX_BACKFILL_INTERVAL_MS = 14 * DAY_MS;

/** Requests a routine backfill costs: one list page, and a little for the occasional second page. */
export const REQUESTS_PER_BACKFILL = 1.2;

/** Below this many changes in the evidence window, the loss rate is not trusted: every class keeps the base. */
export const MIN_EVIDENCE_CHANGES = 20;
/** Loss rates at or below this count as reliable webhooks; above UNRELIABLE_LOSS as unreliable. */
export const RELIABLE_LOSS = 0.05;
export const UNRELIABLE_LOSS = 0.15;

/**
 * Multipliers of the base interval per class, by what the evidence says. Backfills exist to repair what webhooks
 * missed, and misses come from athletes who make changes: while webhooks are reliable, athletes who rarely change
 * anything are backfilled far less often; when changes start arriving only through repairs, or the subscription
 * falls silent, active athletes are backfilled twice as often at once.
 */
export const EVIDENCE_FACTORS = {
  reliable: { active: 1, recent: 8, dormant: 16 },
  uncertain: { active: 1, recent: 1, dormant: 1 },
  unreliable: { active: 0.5, recent: 1, dormant: 1 },
} as const satisfies Record<string, Record<ActivityClass, number>>;

export type WebhookReliability = keyof typeof EVIDENCE_FACTORS;

export function webhookReliability(evidence: WebhookEvidence | undefined): WebhookReliability {
  if (!evidence) return 'uncertain';
  if (evidence.subscriptionSilent) return 'unreliable';
  const changes = evidence.viaWebhook + evidence.repairs;
  if (changes < MIN_EVIDENCE_CHANGES) return 'uncertain';
  const loss = evidence.repairs / changes;
  if (loss <= RELIABLE_LOSS) return 'reliable';
  return loss > UNRELIABLE_LOSS ? 'unreliable' : 'uncertain';
}

/**
 * The interval for the asking athlete: the base scaled by the evidence factor of its class, then, when the fleet's
 * demand at those intervals exceeds the daily background budget, stretched until it fits (weighted by class so
 * active athletes stretch least).
 */
export function backfillIntervalMs(baseMs: number, fleet: FleetLoad): number {
  const budget = Math.max(1, fleet.dailyBackgroundBudget);
  const factors = EVIDENCE_FACTORS[webhookReliability(fleet.evidence)];
  // Each class's interval under a common stretch s (weighted so active athletes stretch least), within the cap.
  const interval = (c: ActivityClass, s: number) => Math.min(MAX_BACKFILL_INTERVAL_MS, baseMs * factors[c] * Math.max(1, s * CLASS_WEIGHT[c]));
  const demand = (s: number) =>
    ACTIVITY_CLASSES.reduce((sum, c) => sum + fleet.athletes[c] * (DAY_MS / interval(c, s)) * REQUESTS_PER_BACKFILL, 0);
  if (demand(0) <= budget) return Math.round(interval(fleet.athleteClass, 0));
  // The smallest stretch whose demand fits the budget (demand falls as s grows; the cap may keep it above the
  // budget, and then every class sits at the cap and the governor paces the rest).
  let low = 0;
  let high = 1;
  while (demand(high) > budget && interval(fleet.athleteClass, high) < MAX_BACKFILL_INTERVAL_MS && high < 1e9) high *= 2;
  for (let i = 0; i < 50; i++) {
    const mid = (low + high) / 2;
    if (demand(mid) > budget) low = mid;
    else high = mid;
  }
  return Math.round(interval(fleet.athleteClass, high));
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
