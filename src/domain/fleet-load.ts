import { DAY_MS } from './durations.js';

/**
 * How busy the fleet is, as the budget-aware backfill planner sees it: the worker's fleetLoad activity measures it,
 * the workflow plans with it (src/workflows/backfill-plan.ts). Pure, so both sides can share it.
 */

export const ACTIVITY_CLASSES = ['active', 'recent', 'dormant'] as const;
export type ActivityClass = (typeof ACTIVITY_CLASSES)[number];

export interface FleetLoad {
  /** Connected (not revoked) athletes per activity class. */
  athletes: Record<ActivityClass, number>;
  /** Requests per day the background share allows (daily read limit x background share). */
  dailyBackgroundBudget: number;
  /** The class of the athlete asking. */
  athleteClass: ActivityClass;
  /** What the trailing day says about webhook delivery (absent: no evidence, every class keeps the base interval). */
  evidence?: WebhookEvidence;
}

/** How far back the evidence reaches: the trailing day's changes, as the 24 h health number counts them. */
export const WEBHOOK_EVIDENCE_WINDOW_MS = DAY_MS;

/** No genuine webhook for this long while athletes are active: the subscription counts as silent. */
export const WEBHOOK_SILENCE_MS = 6 * 60 * 60 * 1000;

/** The evidence adaptive backfill follows (docs/operations.md, "webhook delivery success rate"). */
export interface WebhookEvidence {
  /** Changes that reached us by webhook in the trailing window. */
  viaWebhook: number;
  /** Changes only a backfill or sync found in the same window. */
  repairs: number;
  /** No genuine webhook for too long while athletes are active: the subscription may be gone. */
  subscriptionSilent: boolean;
}

/** An athlete's class from their latest activity start: active within 14 days, recent within 90, else dormant. */
export function activityClassOf(latestStart: Date | null, now: number): ActivityClass {
  if (!latestStart) return 'dormant';
  const age = now - latestStart.getTime();
  if (age <= 14 * DAY_MS) return 'active';
  if (age <= 90 * DAY_MS) return 'recent';
  return 'dormant';
}
