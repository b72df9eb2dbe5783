import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { pruneChangeLog } from '../../db/repositories/change-log.js';

export interface ChangeLogRetention {
  /** Prunes now, then every intervalMs. */
  start(): void;
  /** Deletes every change past the retention, batch after batch; returns how many went. */
  pruneOnce(): Promise<number>;
  /** Stops the timer and waits for a prune in flight. */
  stop(): Promise<void>;
}

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
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> | undefined;

  async function pruneOnce(): Promise<number> {
    const before = new Date(now() - retentionMs);
    let total = 0;
    for (;;) {
      const deleted = await pruneChangeLog(sql, before, batchSize);
      total += deleted;
      if (deleted < batchSize) break;
      // Let the publishers' inserts through between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total > 0) logger?.info({ deleted: total, before: before.toISOString() }, 'change log: pruned changes past retention');
    return total;
  }

  function tick(): void {
    inFlight = pruneOnce()
      .catch((error: unknown) => logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'change log: prune failed; trying again later'))
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
