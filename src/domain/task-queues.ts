/**
 * The athlete workflows' task queues. Background Strava work (history import pages, backfills, range re-sync
 * pages) goes to its own queue, which each worker polls with a few slots (WORKER_BACKGROUND_CONCURRENCY): a
 * backlog of import pages then waits in Temporal's queue instead of taking the worker's activity slots and event
 * loop from webhook fetches (bench/imports: 50 imports at once made realtime p99 28x its unloaded figure).
 */
export const backgroundTaskQueue = (taskQueue: string): string => `${taskQueue}-background`;

/** Background activities one worker runs at once unless WORKER_BACKGROUND_CONCURRENCY says otherwise. */
export const DEFAULT_BACKGROUND_CONCURRENCY = 4;
