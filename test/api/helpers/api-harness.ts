import { Writable } from 'node:stream';
import { createAthleteWorker } from '../../../src/worker/create-worker.js';
import { createApp, type ApiApp, type AppDeps } from '../../../src/api/app.js';
import { createLogger } from '../../../src/api/http/logger.js';
import { startServer, type RunningServer } from '../../../src/api/server.js';
import { loadConfig, type Config } from '../../../src/config.js';
import { createActivities } from '../../../src/activities/index.js';
import { createStravaServices, type StravaServices } from '../../../src/strava/services.js';
import { freePort } from '../../../src/dev/temporal-dev-server.js';
import type { RunningEmulator } from '../../../src/emulator/index.js';
import { upsertConnectedAthlete } from '../../../src/db/repositories/athletes.js';
import type { Sql } from '../../../src/db/connection.js';
import type { TestDatabase } from '../../helpers/database.js';
import { uniqueTaskQueue, workflowBundle, type DevServerHandles } from '../../helpers/temporal.js';

export { eventually, waitFor } from '../../helpers/wait-for.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const STATE_SECRET = 'test-oauth-state-secret-0123456789';

/** Athlete ids unique to this run: workflow ids (athlete-<id>) are shared by every file on the dev server. */
export function uniqueAthleteId(): number {
  return 8_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
}

export interface ApiHarness {
  url: string;
  app: ApiApp;
  config: Config;
  strava: StravaServices;
  server: RunningServer;
  /** Every log line the app wrote (JSON text), for secret-leak assertions. */
  logs: string[];
  /** Moves the app's clock (OAuth state expiry). */
  clock: { offsetMs: number };
  fetch(path: string, init?: RequestInit & { admin?: boolean }): Promise<Response>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  db: TestDatabase;
  /** The Temporal server the app signals: the shared dev server, or a test's own. */
  dev: Pick<DevServerHandles, 'address' | 'client'>;
  emulator?: RunningEmulator;
  env?: Record<string, string>;
  appOptions?: AppDeps['options'];
  /** Runs the webhook relay (off by default so a test can watch rows stay pending). */
  relay?: boolean;
  webhookRelay?: AppDeps['webhookRelay'];
  /** The pool the app uses (e.g. through a proxy that a fault test cuts); defaults to `db.sql`. */
  appSql?: Sql;
  /** Listen on this port (a restarted API on the same address); a free one by default. */
  port?: number;
}

/** The real API on a real port, over the test's database, the shared Temporal dev server and the emulator. */
export async function startApi(options: HarnessOptions): Promise<ApiHarness> {
  const port = options.port ?? (await freePort());
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: options.db.url,
    TEMPORAL_ADDRESS: options.dev.address,
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue('api'),
    STRAVA_API_URL: options.emulator?.apiUrl ?? 'http://127.0.0.1:9/api/v3',
    STRAVA_OAUTH_URL: options.emulator?.oauthUrl ?? 'http://127.0.0.1:9/oauth',
    STRAVA_CLIENT_ID: options.emulator?.clientId ?? '1000',
    STRAVA_CLIENT_SECRET: options.emulator?.clientSecret ?? 'emulator-client-secret',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ADMIN_API_KEY: ADMIN_KEY,
    OAUTH_STATE_SECRET: STATE_SECRET,
    SYNC_NOW_WAIT: '10s',
    ...options.env,
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const clock = { offsetMs: 0 };
  const now = () => Date.now() + clock.offsetMs;
  const strava = createStravaServices(config, options.db.sql, options.emulator ? { now: () => options.emulator!.now() } : {});
  const app = createApp({
    config,
    sql: options.appSql ?? options.db.sql,
    temporal: options.dev.client,
    strava,
    logger,
    now,
    options: options.appOptions,
    ...(options.webhookRelay ? { webhookRelay: options.webhookRelay } : {}),
  });
  const server = await startServer(app, { port, host: '127.0.0.1', relay: options.relay ?? false });
  const url = server.url;
  return {
    url,
    app,
    config,
    strava,
    server,
    logs,
    clock,
    fetch(path, init = {}) {
      const { admin, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (admin) headers.set('authorization', `Bearer ${ADMIN_KEY}`);
      return fetch(`${url}${path}`, { redirect: 'manual', ...rest, headers });
    },
    stop: () => server.stop(2_000),
  };
}

/** A real worker on the harness's task queue, with the real activities over the emulator. */
export async function startWorker(harness: ApiHarness, dev: DevServerHandles, sql: TestDatabase['sql'], emulator: RunningEmulator) {
  const activities = createActivities({ sql, strava: harness.strava.athleteStrava, now: () => emulator.now() });
  const worker = await createAthleteWorker({
    connection: dev.nativeConnection,
    taskQueue: harness.config.TEMPORAL_TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities,
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

/** An athlete connected the way the OAuth callback does it (tokens from the emulator, stored by the vault). */
export async function connectAthlete(harness: ApiHarness, emulator: RunningEmulator, sql: TestDatabase['sql'], activities = 0): Promise<number> {
  const id = uniqueAthleteId();
  await emulator.control.createAthlete({ id, activities });
  const tokens = await emulator.control.issueTokens(id);
  await sql.begin(async (tx) => {
    await upsertConnectedAthlete(tx, id, tokens.scope.split(','));
    await harness.strava.vault.store(id, tokens, tx);
  });
  return id;
}
