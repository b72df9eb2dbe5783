import { createApp } from '../api/app.js';
import { createLogger } from '../api/http/logger.js';
import { startServer } from '../api/server.js';
import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { createStravaServices } from '../strava/services.js';
import { createTemporalClient } from '../temporal/client.js';

/**
 * `strava-sync api`: the HTTP API from the environment. One PostgreSQL pool and one (lazy) Temporal Client per
 * process. SIGTERM/SIGINT shut down gracefully.
 */
export async function run(_args: string[]): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.LOG_LEVEL });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, applicationName: 'strava-sync-api' });
  const temporal = createTemporalClient(config);
  const strava = createStravaServices(config, sql);
  const app = createApp({ config, sql, temporal: temporal.client, strava, logger });
  const running = await startServer(app, { port: config.PORT, logger });

  let exiting = false;
  const shutdown = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, 'shutting down');
    try {
      await running.stop(15_000);
      await temporal.close();
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
