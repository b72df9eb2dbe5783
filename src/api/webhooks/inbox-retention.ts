import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { firstIdReceivedSince, pruneHandledEvents } from '../../db/repositories/webhook-inbox.js';
import { inboxPruned } from './metrics.js';
import { deleteInBatches, periodicPrune, type PeriodicPrune } from '../../db/batched-retention.js';

export interface InboxRetentionOptions {
  sql: Sql;
  /** Forwarded and ignored rows older than this are deleted (WEBHOOK_INBOX_RETENTION). */
  retentionMs: number;
  /** Time between two prunes. */
  intervalMs?: number;
  /** Rows deleted per statement, so one prune never holds many row locks or a long transaction. */
  batchSize?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  now?: () => number;
}

/** pruneOnce deletes every expired handled row, batch after batch, and says how many went. */
export type InboxRetention = PeriodicPrune<number>;

/**
 * Keeps the webhook inbox from growing without end: a handled row (forwarded or ignored) only matters while Strava
 * may still retry its event, which it stops doing within hours, so after the retention period it goes. Pending
 * rows stay whatever their age: nothing answered 200 is lost. Every API instance runs one; their deletes are
 * idempotent, so two instances pruning at once only share the work.
 */
export function createInboxRetention(options: InboxRetentionOptions): InboxRetention {
  const { sql, retentionMs, logger } = options;
  const batchSize = options.batchSize ?? 5_000;
  const now = options.now ?? Date.now;

  async function pruneOnce(): Promise<number> {
    const before = new Date(now() - retentionMs);
    // Rows from here on are newer than the cut-off: no batch needs to look at them.
    const belowId = await firstIdReceivedSince(sql, before);
    let afterId = 0;
    // Keyset paging: each batch starts after the last id the previous one deleted; between batches the
    // receiver's inserts get through.
    const total = await deleteInBatches(batchSize, async () => {
      const { deleted, lastId } = await pruneHandledEvents(sql, { before, afterId, belowId, limit: batchSize });
      inboxPruned.inc(deleted);
      if (lastId === null) return 0;
      afterId = lastId;
      return deleted;
    });
    if (total > 0) logger?.info({ deleted: total, before: before.toISOString() }, 'webhook inbox: pruned handled events past retention');
    return total;
  }

  return periodicPrune({ intervalMs: options.intervalMs ?? 3_600_000, prune: pruneOnce, what: 'webhook inbox', ...(logger ? { logger } : {}) });
}
