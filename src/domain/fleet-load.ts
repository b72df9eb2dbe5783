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

/** The trailing window an athlete's recent uploads are counted in. */
export const ACTIVITY_WINDOW_MS = 14 * DAY_MS;

/**
 * Uploads within the window from which an athlete counts as active. Backfills exist for the changes webhooks
 * missed, and misses come in proportion to uploads: an athlete uploading most days makes almost all of them, one
 * who uploaded once or twice in two weeks very few (bench/fleet-sim: backfilling only such athletes every 3 h keeps
 * the fixed policy's time to repair at a third of its requests).
 */
export const ACTIVE_MIN_UPLOADS = 3;

/** What the planner knows of an athlete's activity: the latest start, and how many started within the window. */
export interface ActivityRecency {
  latestStart: Date | null;
  uploadsInWindow: number;
}

/** Active: at least ACTIVE_MIN_UPLOADS within 14 days; recent: an upload within 90 days; else dormant. */
export function activityClassOf(recency: ActivityRecency, now: number): ActivityClass {
  if (recency.uploadsInWindow >= ACTIVE_MIN_UPLOADS) return 'active';
  if (recency.latestStart && now - recency.latestStart.getTime() <= 90 * DAY_MS) return 'recent';
  return 'dormant';
}

/** Whether the athlete uploaded within the window (the subscription-silence check counts these). */
export function uploadedWithinWindow(latestStart: Date | null, now: number): boolean {
  return latestStart !== null && now - latestStart.getTime() <= ACTIVITY_WINDOW_MS;
}
