import { DAY_MS, MINUTE_MS } from './durations.js';

/**
 * The operator's settings that reach running athlete workflows (table `settings`, `PUT /admin/settings`), as
 * the workflows receive them. Plain data: safe inside the workflow bundle.
 */
export interface FleetSettings {
  /** Grows with every change (0: never changed, the environment's values); a workflow applies only a newer one. */
  version: number;
  /** Base interval between background backfills (default BACKFILL_INTERVAL). */
  backfillIntervalMs: number;
  /** A focus signal syncs only when the last sync is older than this (default FOCUS_STALE_AFTER). */
  focusStaleAfterMs: number;
  /** Fleet-wide pause: no athlete workflow calls Strava until it is lifted. */
  paused: boolean;
}

/** What an operator may set (PUT /admin/settings): outside these an interval is a mistake, not a choice. */
export const SETTING_BOUNDS = {
  backfillIntervalMs: { min: 15 * MINUTE_MS, max: 14 * DAY_MS },
  focusStaleAfterMs: { min: MINUTE_MS, max: 7 * DAY_MS },
} as const;

/** Why an athlete's auto sync is paused: an operator paused the athlete, the whole fleet, or Strava refuses the app (403). */
export const PAUSE_CAUSES = ['operator', 'fleet', 'strava'] as const;
export type PauseCause = (typeof PAUSE_CAUSES)[number];
