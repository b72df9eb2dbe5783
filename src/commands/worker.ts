import { NativeConnection } from '@temporalio/worker';
import { pino } from 'pino';
import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { createConfiguredWorker } from '../worker/configured-worker.js';
import { installWorkerRuntime } from '../worker/runtime.js';

/**
 * `strava-sync worker`: runs athlete workflows and activities. SIGINT/SIGTERM stop polling, give in-flight
 * activities up to 30 s (shutdownGraceTime) and exit; interrupted work resumes on another worker.
 */
export async function run(_args: string[]): Promise<void> {
  const config = loadConfigOrExit();
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'worker' } });
  installWorkerRuntime({ metricsPort: config.WORKER_METRICS_PORT, logLevel: config.LOG_LEVEL });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, applicationName: 'strava-sync-worker' });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  try {
    const worker = await createConfiguredWorker(config, { sql, connection, log });
    log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, metricsPort: config.WORKER_METRICS_PORT }, 'worker started');
    // Worker.run installs SIGINT/SIGTERM handlers that begin a graceful shutdown; run resolves when it is done.
    await worker.run();
    log.info('worker stopped');
  } finally {
    await connection.close();
    await sql.end({ timeout: 5 });
  }
}
