import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { postgresAnswers, startEmbeddedPostgres, type RunningPostgres } from '../src/dev/embedded-postgres.js';
import { freePort, startDevServer, type RunningDevServer } from '../src/dev/temporal-dev-server.js';
import { WORKFLOWS_PATH } from '../src/worker/workflows-path.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    /** The PostgreSQL server the tests create their databases on (its `postgres` database). */
    databaseServerUrl: string;
  }
}

/** Where the tests look for PostgreSQL; DATABASE_URL overrides it (point it at a free port to try the fallback). */
const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

let server: RunningDevServer | undefined;
let postgres: RunningPostgres | undefined;
let dir: string | undefined;

/**
 * The PostgreSQL at the tests' DATABASE_URL when one answers there; otherwise a throw-away embedded one in the
 * run's temp directory, so `npm test` needs no PostgreSQL installed.
 */
async function databaseServer(tempDir: string): Promise<string> {
  const requested = process.env.DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
  if (await postgresAnswers(requested)) return requested;
  // Entered by the unprivileged user the server runs as when the tests run as root.
  await chmod(tempDir, 0o755);
  postgres = await startEmbeddedPostgres({ dataDir: join(tempDir, 'postgres'), port: await freePort(), throwAway: true, maxConnections: 300 });
  const url = postgres.urlFor('postgres');
  console.log(`test setup: no PostgreSQL answered at ${requested}; using an embedded PostgreSQL ${postgres.version} at ${url} for this run`);
  return url;
}

/** One Temporal dev server, one workflow bundle and one PostgreSQL server for the whole run, shared by every test file. */
export async function setup(project: TestProject): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'strava-sync-test-'));
  const [databaseUrl, started, bundle] = await Promise.all([
    databaseServer(dir),
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
  project.provide('databaseServerUrl', databaseUrl);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  await postgres?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}

const noop = () => {};
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
