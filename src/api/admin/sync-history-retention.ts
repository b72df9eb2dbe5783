import type { Logger } from 'pino';
import type { Db } from '../../db/connection.js';
import { deleteInBatches, periodicPrune, type PeriodicPrune } from '../../db/batched-retention.js';
import { pruneBackfillPlans } from '../../db/repositories/backfill-plans.js';
import { pruneSyncRuns } from '../../db/repositories/sync-runs.js';
import { pruneTokenRefreshes } from '../../db/repositories/token-refreshes.js';

export interface SyncHistoryRetentionOptions {
  sql: Db;
  /** Rows older than this go (SYNC_HISTORY_RETENTION). */
  retentionMs: number;
  /** Time between two prunes. */
  intervalMs?: number;
  /** Rows deleted per statement, so one prune never holds many row locks or a long transaction. */
  batchSize?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  now?: () => number;
}

/** pruneOnce deletes every expired row, batch after batch, and says how many went from each table. */
export type SyncHistoryRetention = PeriodicPrune<{ syncRuns: number; backfillPlans: number; tokenRefreshes: number }>;

/**
 * Keeps the sync history bounded: runs, backfill plans and token refreshes older than SYNC_HISTORY_RETENTION are
 * deleted in batches. It runs in the API, beside the webhook inbox retention: the API is the process that reads the
 * history (the page, /admin/health), it already owns a periodic-maintenance lifecycle (started with the listener,
 * stopped in the graceful shutdown), and the workers' capacity stays with the activities. Every API instance runs
 * one; a batch skips rows another instance is deleting, so instances share the work instead of queueing.
 */
export function createSyncHistoryRetention(options: SyncHistoryRetentionOptions): SyncHistoryRetention {
  const { sql, retentionMs, logger } = options;
  const batchSize = options.batchSize ?? 5_000;
  const now = options.now ?? Date.now;
  const drain = (prune: (sql: Db, before: Date, limit: number) => Promise<number>, before: Date) =>
    deleteInBatches(batchSize, () => prune(sql, before, batchSize));

  async function pruneOnce() {
    const before = new Date(now() - retentionMs);
    const pruned = {
      syncRuns: await drain(pruneSyncRuns, before),
      backfillPlans: await drain(pruneBackfillPlans, before),
      tokenRefreshes: await drain(pruneTokenRefreshes, before),
    };
    if (pruned.syncRuns + pruned.backfillPlans + pruned.tokenRefreshes > 0) {
      logger?.info({ ...pruned, before: before.toISOString() }, 'sync history: pruned rows past retention');
    }
    return pruned;
  }

  return periodicPrune({ intervalMs: options.intervalMs ?? 3_600_000, prune: pruneOnce, what: 'sync history', ...(logger ? { logger } : {}) });
}
