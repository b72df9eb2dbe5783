/**
 * Defaults of Strava's daily read limit and of the share of it background work (import, backfill) may use, and
 * the daily background budget they give. Defined once: src/config.ts defaults STRAVA_READ_LIMIT_DAILY and
 * RATE_BACKGROUND_SHARE from here, and the fleetLoad activity falls back to the product when it is not wired.
 */

/** Strava's default daily read limit for an application (requests per day). */
export const DEFAULT_READ_LIMIT_DAILY = 1000;

/** Share of the read limit that background work may use. */
export const DEFAULT_BACKGROUND_SHARE = 0.6;

/** Requests per day the background share allows with the defaults above (600). */
export const DEFAULT_DAILY_BACKGROUND_BUDGET = DEFAULT_READ_LIMIT_DAILY * DEFAULT_BACKGROUND_SHARE;
