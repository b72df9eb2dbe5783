import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { firstIdReceivedSince, pruneHandledEvents } from '../../db/repositories/webhook-inbox.js';
import { inboxPruned } from './metrics.js';

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

export interface InboxRetention {
  /** Prunes now, then every intervalMs. */
  start(): void;
  /** Deletes every expired handled row, batch after batch; returns how many went. */
  pruneOnce(): Promise<number>;
  /** Stops the timer and waits for a prune in flight. */
  stop(): Promise<void>;
}

/**
 * Keeps the webhook inbox from growing without end: a handled row (forwarded or ignored) only matters while Strava
 * may still retry its event, which it stops doing within hours, so after the retention period it goes. Pending
 * rows stay whatever their age: nothing answered 200 is lost. Every API instance runs one; their deletes are
 * idempotent, so two instances pruning at once only share the work.
 */
export function createInboxRetention(options: InboxRetentionOptions): InboxRetention {
  const { sql, retentionMs, logger } = options;
  const intervalMs = options.intervalMs ?? 3_600_000;
  const batchSize = options.batchSize ?? 5_000;
  const now = options.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> | undefined;

  async function pruneOnce(): Promise<number> {
    const before = new Date(now() - retentionMs);
    // Rows from here on are newer than the cut-off: no batch needs to look at them.
    const belowId = await firstIdReceivedSince(sql, before);
    let afterId = 0;
    let total = 0;
    for (;;) {
      const { deleted, lastId } = await pruneHandledEvents(sql, { before, afterId, belowId, limit: batchSize });
      total += deleted;
      inboxPruned.inc(deleted);
      if (deleted < batchSize || lastId === null) break;
      afterId = lastId;
      // Let the receiver's inserts through between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total > 0) logger?.info({ deleted: total, before: before.toISOString() }, 'webhook inbox: pruned handled events past retention');
    return total;
  }

  function tick(): void {
    inFlight = pruneOnce()
      .catch((error: unknown) => logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'webhook inbox: prune failed; trying again later'))
      .finally(() => {
        inFlight = undefined;
      });
  }

  return {
    start() {
      if (timer) return;
      tick();
      timer = setInterval(() => {
        if (!inFlight) tick();
      }, intervalMs);
      timer.unref();
    },
    pruneOnce,
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
