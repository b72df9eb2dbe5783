import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Duration } from '@temporalio/common';
import type { AthleteActivities } from '../domain/activity-contract.js';
import { WORKFLOWS_PATH } from './workflows-path.js';

export interface AthleteWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  activities: AthleteActivities;
  /** A prebuilt bundle (tests build one per run); otherwise the workflows are bundled at start-up. */
  workflowBundle?: { code: string };
  /** In-flight activities get this long to finish on shutdown (the SDK default, 0, cancels them at once). */
  shutdownGraceTime?: Duration;
  /** Workflows kept cached (the SDK's heap-based default when absent). */
  maxCachedWorkflows?: number;
}

/** The worker that runs athlete workflows and their activities on one task queue. */
export function createAthleteWorker(options: AthleteWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    maxConcurrentActivityTaskExecutions: 50,
    ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
  });
}
