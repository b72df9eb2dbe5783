import { Worker, type NativeConnection, type State } from '@temporalio/worker';
import type { Duration } from '@temporalio/common';
import type { AthleteActivities } from '../domain/activity-contract.js';
import { backgroundTaskQueue, DEFAULT_BACKGROUND_CONCURRENCY } from '../domain/task-queues.js';
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
  /** Slots of the background task queue's poller (WORKER_BACKGROUND_CONCURRENCY). */
  backgroundConcurrency?: number;
}

/** The two Temporal workers of one athlete worker process, run and stopped together. */
export interface AthleteWorker {
  /** Resolves once both have shut down; rejects with the first failure (the other is then shut down too). */
  run(): Promise<void>;
  shutdown(): void;
  getState(): State;
}

/**
 * The worker that runs athlete workflows: one Temporal worker for the workflows and their realtime and database
 * activities on the task queue, one with a few slots for the background queue (src/domain/task-queues.ts), so a
 * backlog of import pages waits in Temporal instead of in this process.
 */
export async function createAthleteWorker(options: AthleteWorkerOptions): Promise<AthleteWorker> {
  const common = {
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    activities: options.activities,
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
  };
  const main = await Worker.create({
    ...common,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    maxConcurrentActivityTaskExecutions: 50,
    ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
  });
  const background = await Worker.create({
    ...common,
    taskQueue: backgroundTaskQueue(options.taskQueue),
    maxConcurrentActivityTaskExecutions: options.backgroundConcurrency ?? DEFAULT_BACKGROUND_CONCURRENCY,
  });
  return runTogether(main, background);
}

/** Runs workers as one: shutdown stops all, and one failing stops the others. */
export function runTogether(...workers: Worker[]): AthleteWorker {
  const shutdown = () => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  return {
    async run() {
      const settled = await Promise.allSettled(
        workers.map((worker) =>
          worker.run().catch((error: unknown) => {
            shutdown();
            throw error;
          }),
        ),
      );
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
    shutdown,
    getState: () => workers[0]!.getState(),
  };
}
