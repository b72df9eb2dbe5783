import { Client, Connection } from '@temporalio/client';
import { createApp } from '../api/app.js';
import { createLogger } from '../api/http/logger.js';
import { startServer } from '../api/server.js';
import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { createStravaServices } from '../strava/services.js';

/**
 * `strava-sync api`: the HTTP API from the environment. One PostgreSQL pool and one Temporal Client per process.
 * The Temporal connection is lazy so the API starts (and keeps recording webhooks in the inbox) while Temporal
 * is down; the relay forwards them once it is back. SIGTERM/SIGINT shut down gracefully.
 */
export async function run(_args: string[]): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.LOG_LEVEL });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, applicationName: 'strava-sync-api' });
  const connection = Connection.lazy({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const strava = createStravaServices(config, sql);
  const app = createApp({ config, sql, temporal, strava, logger });
  const running = await startServer(app, { port: config.PORT, logger });

  let exiting = false;
  const shutdown = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, 'shutting down');
    try {
      await running.stop(15_000);
      await connection.close();
      await sql.end({ timeout: 5 });
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
