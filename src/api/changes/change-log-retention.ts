import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { deleteInBatches, periodicPrune, type PeriodicPrune } from '../../db/batched-retention.js';
import { pruneChangeLog } from '../../db/repositories/change-log.js';

/** pruneOnce deletes every change past the retention, batch after batch, and says how many went. */
export type ChangeLogRetention = PeriodicPrune<number>;

/**
 * Keeps the change log bounded (CHANGE_LOG_RETENTION): a client away for longer gets `event: reset` (or
 * `reset: true` from GET /changes) and refetches instead of replaying. Every API instance runs one; deletes are
 * idempotent, so two instances pruning at once only share the work.
 */
export function createChangeLogRetention(options: {
  sql: Sql;
  retentionMs: number;
  intervalMs?: number;
  /** Rows per statement, so one prune never holds many row locks or a long transaction. */
  batchSize?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  now?: () => number;
}): ChangeLogRetention {
  const { sql, retentionMs, logger } = options;
  const intervalMs = options.intervalMs ?? 3_600_000;
  const batchSize = options.batchSize ?? 5_000;
  const now = options.now ?? Date.now;

  async function pruneOnce(): Promise<number> {
    const before = new Date(now() - retentionMs);
    // Between batches the publishers' inserts get through.
    const total = await deleteInBatches(batchSize, () => pruneChangeLog(sql, before, batchSize));
    if (total > 0) logger?.info({ deleted: total, before: before.toISOString() }, 'change log: pruned changes past retention');
    return total;
  }

  return periodicPrune({ intervalMs, prune: pruneOnce, what: 'change log', ...(logger ? { logger } : {}) });
}
