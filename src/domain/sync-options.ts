import { DAY_MS, HOUR_MS } from './durations.js';

/**
 * The athlete workflow's tunables and their defaults, defined once: the workflow fills missing options from
 * DEFAULT_SYNC_OPTIONS, and src/config.ts takes the defaults of BACKFILL_INTERVAL, BACKFILL_OVERLAP,
 * FOCUS_STALE_AFTER and CONTINUE_AS_NEW_AFTER_EVENTS from it. Plain data: safe inside the workflow bundle.
 */

/**
 * Tunables of one athlete workflow. They travel in the workflow input (filled from Config by
 * athleteStartOptions) so a test can shrink them and a running workflow keeps the values it started with.
 */
export interface AthleteSyncOptions {
  /** Base interval between background backfills (BACKFILL_INTERVAL). */
  backfillIntervalMs: number;
  /** How far before the last successful sync a backfill lists (BACKFILL_OVERLAP): late uploads carry old dates. */
  backfillOverlapMs: number;
  /** ±fraction applied to every interval so thousands of athletes do not fire together. */
  backfillJitter: number;
  /**
   * Backfill frequency follows the fleet's webhook evidence (BACKFILL_ADAPTIVE; docs/workflow.md, "Adaptive
   * backfill"). Off: every athlete at the base interval, stretched only when over budget.
   */
  adaptiveBackfill: boolean;
  /** A focus signal syncs only when the last successful sync is older than this (FOCUS_STALE_AFTER). */
  focusStaleAfterMs: number;
  /** Continue-as-new once the history holds this many events (or when the server suggests it). */
  continueAsNewAfterEvents: number;
  /** Delays between fetch retries of an activity that 404s right after its create event. */
  notFoundRetryDelaysMs: number[];
  /** Longest single wait for a rate window before asking the governor again. */
  rateLimitMaxWaitMs: number;
  /** First back-off after an application-wide 403; doubles up to pausedMaxMs. */
  pausedRetryMs: number;
  pausedMaxMs: number;
  /** Wait after an unexpected failure of an import page or backfill before trying again. */
  errorRetryMs: number;
  importPageSize: number;
  /** Bounds on what the workflow carries across continue-as-new. */
  maxPendingEvents: number;
  dedupeKeep: number;
  tombstonesKeep: number;
  /**
   * Per-athlete budget of realtime Strava fetches triggered by webhook events (a token bucket): anyone can POST
   * an event, so what events may cost is capped here. Each event fetch (create, update, delete confirmation,
   * 404 re-fetch) takes a token; the bucket holds eventFetchCapacity and gains one every eventFetchRefillMs.
   */
  eventFetchCapacity: number;
  eventFetchRefillMs: number;
  /** Activities waiting for a token (fetched as tokens refill); beyond this, a catch-up list instead. */
  deferredFetchesKeep: number;
  /** An empty bucket degrades a burst to one list of the recent window, at most once per this interval. */
  burstListIntervalMs: number;
  /** The burst list waits this long after the first deferred fetch, so the rest of a burst is in it too. */
  burstSettleMs: number;
}

export const DEFAULT_SYNC_OPTIONS: AthleteSyncOptions = {
  backfillIntervalMs: 3 * HOUR_MS,
  // 30 days still fits one list page (200) for nearly every athlete, so it costs no more requests than 7, and it
  // catches what no webhook announces on older activities (visibility changes, late edits, deletions): bench/naive.
  backfillOverlapMs: 30 * DAY_MS,
  backfillJitter: 0.1,
  adaptiveBackfill: true,
  focusStaleAfterMs: HOUR_MS,
  continueAsNewAfterEvents: 2000,
  notFoundRetryDelaysMs: [10_000, 60_000, 300_000, 900_000],
  rateLimitMaxWaitMs: 15 * 60_000,
  pausedRetryMs: 3_600_000,
  pausedMaxMs: 6 * 3_600_000,
  errorRetryMs: 5 * 60_000,
  importPageSize: 200,
  maxPendingEvents: 1000,
  dedupeKeep: 500,
  tombstonesKeep: 500,
  eventFetchCapacity: 10,
  eventFetchRefillMs: 10 * 60_000,
  deferredFetchesKeep: 100,
  burstListIntervalMs: 3_600_000,
  burstSettleMs: 30_000,
};
