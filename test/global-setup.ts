import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startDevServer, type RunningDevServer } from '../src/dev/temporal-dev-server.js';
import { WORKFLOWS_PATH } from '../src/worker/workflows-path.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

let server: RunningDevServer | undefined;
let dir: string | undefined;

/** One Temporal dev server and one workflow bundle for the whole run, shared by every test file. */
export async function setup(project: TestProject): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'strava-sync-test-'));
  const [started, bundle] = await Promise.all([
    startDevServer({
      dbFilename: join(dir, 'temporal.sqlite'),
      // Small history threshold so continue-as-new is exercised by ordinary tests.
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 400 },
    }),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger }),
  ]);
  server = started;
  const bundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', bundlePath);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}

const noop = () => {};
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
