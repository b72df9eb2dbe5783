import { totalmem } from 'node:os';
import type { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from '../activities/index.js';
import { countTokenRefresh } from '../activities/sync-metrics.js';
import type { Config } from '../config.js';
import type { Sql } from '../db/connection.js';
import { learnedDailyBackgroundBudget } from '../strava/rate-governor.js';
import { createStravaServices } from '../strava/services.js';
import { createAthleteWorker, type AthleteWorker, type AthleteWorkerOptions } from './create-worker.js';
import { defaultMaxCachedWorkflows } from './workflow-cache-size.js';

/**
 * The production wiring of a worker from the environment contract: Strava services, activities with the
 * fleet's background budget, and the athlete worker on TEMPORAL_TASK_QUEUE. The worker command and the tests
 * that run a worker in its own process share it, so a test exercises exactly what operators run.
 */
export function createConfiguredWorker(
  config: Config,
  deps: { sql: Sql; connection: NativeConnection; log?: Logger },
  overrides: Pick<AthleteWorkerOptions, 'workflowBundle' | 'shutdownGraceTime'> = {},
): Promise<AthleteWorker> {
  // Refreshes happen inside activities: the count goes to the activity's metric meter (the worker's /metrics).
  const { athleteStrava, governor } = createStravaServices(config, deps.sql, { onTokenRefresh: (attempt) => countTokenRefresh(attempt.outcome) });
  const activities = createActivities({
    sql: deps.sql,
    strava: athleteStrava,
    ...(deps.log ? { log: deps.log } : {}),
    dailyBackgroundBudget: () => learnedDailyBackgroundBudget(governor, config.RATE_BACKGROUND_SHARE),
  });
  return createAthleteWorker({
    connection: deps.connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS ?? defaultMaxCachedWorkflows(totalmem(), process.constrainedMemory?.()),
    backgroundConcurrency: config.WORKER_BACKGROUND_CONCURRENCY,
    ...overrides,
  });
}
