import { readFile } from 'node:fs/promises';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, Worker, type WorkerOptions } from '@temporalio/worker';
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { backgroundTaskQueue } from '../../src/domain/task-queues.js';
import { waitFor } from './wait-for.js';

let bundleCode: Promise<string> | undefined;
let runtimeInstalled = false;

/** Keeps the SDK's own logging to warnings so test output stays readable. Runtime.install works once per process. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

/** The workflow bundle made once by the global setup. */
export function workflowBundle(): Promise<{ code: string }> {
  bundleCode ??= readFile(inject('workflowBundlePath'), 'utf8');
  return bundleCode.then((code) => ({ code }));
}

export interface DevServerHandles {
  address: string;
  connection: Connection;
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

/** Connects to the run's shared dev server. */
export async function connectDevServer(): Promise<DevServerHandles> {
  quietRuntime();
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    address,
    connection,
    client: new Client({ connection }),
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

export const uniqueTaskQueue = (prefix = 'test'): string => `${prefix}-${randomUUID()}`;

/**
 * Runs a Worker on the prebuilt bundle for the duration of fn, then shuts it down; with activities, a second one
 * serves them on the background task queue too (import pages and backfills go there, src/domain/task-queues.ts).
 */
export async function withWorker<T>(
  options: { connection: NativeConnection; taskQueue: string; activities?: object; namespace?: string } & Partial<WorkerOptions>,
  fn: (worker: Worker) => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    workflowBundle: await workflowBundle(),
    ...options,
  });
  if (!options.activities) return worker.runUntil(() => fn(worker));
  const background = await Worker.create({
    connection: options.connection,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    taskQueue: backgroundTaskQueue(options.taskQueue),
    activities: options.activities,
  });
  return background.runUntil(() => worker.runUntil(() => fn(worker)));
}

/**
 * A workflow's history length once it sleeps: no activity pending and no workflow task scheduled after the last
 * completed one (every input, a signal, a fired timer, a finished activity, schedules one). The time-skipping
 * server's describe() does not report a workflow task in flight, so the history itself is read. Tests that a
 * workflow's history does not grow measure from here, not while its last step still lands.
 */
export async function settledHistoryLength(handle: WorkflowHandle): Promise<number> {
  const settled = await waitFor(
    async () => {
      const [events, description] = await Promise.all([handle.fetchHistory().then((h) => h.events ?? []), handle.describe()]);
      const lastCompleted = events.findLastIndex((e) => e.workflowTaskCompletedEventAttributes != null);
      const taskAfter = events.slice(lastCompleted + 1).some((e) => e.workflowTaskScheduledEventAttributes != null);
      return { asleep: lastCompleted >= 0 && !taskAfter, length: events.length, pending: (description.raw.pendingActivities ?? []).length };
    },
    ({ asleep, pending }) => asleep && pending === 0,
    { timeoutMs: 15_000, what: 'the workflow asleep (no workflow task or activity in flight)' },
  );
  return settled.length;
}
