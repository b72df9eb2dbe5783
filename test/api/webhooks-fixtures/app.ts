import type { Client } from '@temporalio/client';
import { createApp, type ApiApp, type AppDeps } from '../../../src/api/app.js';
import { createLogger } from '../../../src/api/http/logger.js';
import { startServer, type RunningServer } from '../../../src/api/server.js';
import type { Config } from '../../../src/config.js';
import type { Sql } from '../../../src/db/connection.js';
import { freePort } from '../../../src/dev/temporal-dev-server.js';
import { createStravaServices } from '../../../src/strava/services.js';
import { testConfig } from './harness.js';

export interface RunningApi {
  app: ApiApp;
  server: RunningServer;
  url: string;
  config: Config;
}

/**
 * The real app (createApp + startServer, relay included) on a free loopback port that is also its PUBLIC_URL,
 * so Strava's (the emulator's) subscription handshake reaches it.
 */
export async function startApi(options: {
  sql: Sql;
  temporal: Client;
  env: Record<string, string>;
  options?: AppDeps['options'];
  webhookRelay?: AppDeps['webhookRelay'];
  /** The pool the app uses (e.g. through a proxy that a fault test cuts); defaults to `sql`. */
  appSql?: Sql;
}): Promise<RunningApi> {
  const port = await freePort();
  const config = testConfig({ PUBLIC_URL: `http://127.0.0.1:${port}`, ...options.env });
  const app = createApp({
    config,
    sql: options.appSql ?? options.sql,
    temporal: options.temporal,
    strava: createStravaServices(config, options.sql),
    logger: createLogger({ level: 'silent' }),
    ...(options.options ? { options: options.options } : {}),
    ...(options.webhookRelay ? { webhookRelay: options.webhookRelay } : {}),
  });
  const server = await startServer(app, { port, host: '127.0.0.1' });
  return { app, server, url: server.url, config };
}
