import type { Sql } from '../../db/connection.js';
import { recordEvent, recordEvents, type InboxEventInput, type RecordOptions, type RecordResult } from '../../db/repositories/webhook-inbox.js';
import { classifyDatabaseError } from './database-errors.js';

export interface InboxBatcherOptions {
  sql: Sql;
  record?: RecordOptions;
  /** Most events one transaction records. */
  maxBatch?: number;
  /**
   * Transactions in flight at once. Events that arrive while all are busy wait and go out together in the next
   * one: the busier the receiver, the larger the batches, and an idle receiver waits for nobody.
   */
  maxInFlight?: number;
  /**
   * Most events waiting for a transaction. Beyond it record() refuses at once (InboxBusyError): while PostgreSQL
   * is slow, a flood of POSTs (webhooks are unsigned) would otherwise pile up in memory without bound.
   */
  maxWaiting?: number;
}

/** The inbox already holds maxWaiting events waiting for a transaction; the event was not recorded. */
export class InboxBusyError extends Error {
  constructor(readonly waiting: number) {
    super(`${waiting} webhook events are already waiting to be recorded`);
    this.name = 'InboxBusyError';
  }
}

export interface InboxBatcher {
  /**
   * Resolves once the event's row is committed (or found a duplicate); rejects when its transaction failed, or at
   * once with InboxBusyError when maxWaiting events are already waiting.
   */
  record(event: InboxEventInput): Promise<RecordResult>;
}

interface Waiting {
  event: InboxEventInput;
  resolve: (result: RecordResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for the webhook inbox: events that arrive together share one transaction (one round trip of
 * pipelined statements, one commit, one WAL flush) instead of paying one each. Every event keeps recordEvent's
 * exact per-event outcome (recordEvents), and its promise settles only after the transaction committed, so a
 * 200 never goes out for a row that is not durable.
 */
export function createInboxBatcher(options: InboxBatcherOptions): InboxBatcher {
  const { sql } = options;
  const recordOptions = options.record ?? {};
  const maxBatch = options.maxBatch ?? 64;
  const maxInFlight = options.maxInFlight ?? 2;
  const maxWaiting = options.maxWaiting ?? 5_000;
  const queue: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;

  function schedule(): void {
    if (scheduled || inFlight >= maxInFlight || queue.length === 0) return;
    // Requests whose bodies arrived in the same turn of the event loop go in the same batch.
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      while (inFlight < maxInFlight && queue.length > 0) {
        inFlight++;
        void flush(queue.splice(0, maxBatch)).finally(() => {
          inFlight--;
          schedule();
        });
      }
    });
  }

  async function flush(batch: Waiting[]): Promise<void> {
    try {
      const results = await recordEvents(sql, batch.map((waiting) => waiting.event), recordOptions);
      batch.forEach((waiting, index) => waiting.resolve(results[index]!));
    } catch (error) {
      if (batch.length === 1 || classifyDatabaseError(error) === 'unreachable') {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      // One event's statement failed the transaction (a value PostgreSQL refuses, say) and nothing of it was
      // committed: record the events one by one, in order, so only the bad one fails.
      for (const waiting of batch) await recordEvent(sql, waiting.event, recordOptions).then(waiting.resolve, waiting.reject);
    }
  }

  return {
    record(event) {
      if (queue.length >= maxWaiting) return Promise.reject(new InboxBusyError(queue.length));
      return new Promise<RecordResult>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        schedule();
      });
    },
  };
}
