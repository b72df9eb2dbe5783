import { readFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, Worker, type WorkerOptions } from '@temporalio/worker';
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';

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

/** Runs a Worker on the prebuilt bundle for the duration of fn, then shuts it down. */
export async function withWorker<T>(
  options: { connection: NativeConnection; taskQueue: string; activities?: object; namespace?: string } & Partial<WorkerOptions>,
  fn: (worker: Worker) => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    workflowBundle: await workflowBundle(),
    ...options,
  });
  return worker.runUntil(() => fn(worker));
}
