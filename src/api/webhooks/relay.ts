import type { Logger } from 'pino';
import type { Db, Sql } from '../../db/connection.js';
import { claimPending, markForwarded, noteForwardFailure, oldestPendingOutside, type InboxRow } from '../../db/repositories/webhook-inbox.js';
import { toEventSignal } from './event-signal.js';
import type { EventForwarder } from '../../temporal/athlete-gateway.js';
import { relayFailures, relayForwarded } from './metrics.js';

export interface InboxRelayOptions {
  sql: Sql;
  forwarder: EventForwarder;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Rows claimed per transaction. */
  batchSize?: number;
  /** Athletes signalled in parallel within a batch (each athlete's events stay in order). */
  concurrency?: number;
  /** How often an idle relay looks for rows another instance left behind (or a crash did). */
  idlePollMs?: number;
  /**
   * A nudge wakes the relay after this delay rather than at once, so a burst of events goes out in one claim
   * transaction instead of one transaction per event (which would compete with the receiver for the CPU).
   */
  nudgeDelayMs?: number;
  /** Backoff while Temporal or PostgreSQL is down: doubles from minBackoffMs up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface DrainResult {
  claimed: number;
  forwarded: number;
  /** Rows left for later because an older row of the same athlete is being forwarded by another relay. */
  deferred: number;
  /** Set when a signal (or the database) failed: the rest stays pending for the next attempt. */
  failure?: { target: 'temporal' | 'database'; error: unknown };
}

export interface InboxRelay {
  start(): void;
  /** Wakes the relay now (a new row was committed). Ignored while it backs off from an outage. */
  nudge(): void;
  /** One claim-and-forward transaction; exposed for tests and for the loop. */
  drainOnce(): Promise<DrainResult>;
  /** Stops the loop and waits for the batch in flight. */
  stop(): Promise<void>;
  readonly backingOff: boolean;
}

/**
 * Forwards pending inbox rows to their athlete workflows, oldest first. Every API instance runs one; they
 * coordinate through row locks: a batch is claimed with FOR UPDATE SKIP LOCKED inside a transaction that stays
 * open while its rows are signalled and marked forwarded, so no two relays ever forward the same row. If the
 * process dies after a signal but before the commit the row is forwarded again later: delivery to Temporal is
 * at-least-once, and the workflow drops repeats by event identity.
 */
export function createInboxRelay(options: InboxRelayOptions): InboxRelay {
  const { sql, forwarder, logger } = options;
  const batchSize = options.batchSize ?? 100;
  const concurrency = options.concurrency ?? 16;
  const idlePollMs = options.idlePollMs ?? 2_000;
  const nudgeDelayMs = options.nudgeDelayMs ?? 20;
  const minBackoffMs = options.minBackoffMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;

  let running = false;
  let loop: Promise<void> | undefined;
  let backoffMs = 0;
  let nudged = false;
  let nudgeTimer: NodeJS.Timeout | undefined;
  /** Ends the current sleep early: nudges use it only when not backing off, stop() always. */
  let endSleep: (() => void) | undefined;
  let sleepInterruptible = false;

  async function drainOnce(): Promise<DrainResult> {
    try {
      return await sql.begin(async (tx) => {
        const claimed = await claimPending(tx, batchSize);
        if (claimed.length === 0) return { claimed: 0, forwarded: 0, deferred: 0 };
        const rows = await withoutOvertaking(tx, claimed);
        const { forwarded, failed, error } = await forwardInOrder(rows);
        await markForwarded(tx, forwarded);
        await noteForwardFailure(tx, failed);
        relayForwarded.inc(forwarded.length);
        return {
          claimed: claimed.length,
          forwarded: forwarded.length,
          deferred: claimed.length - rows.length,
          ...(failed.length > 0 ? { failure: { target: 'temporal' as const, error } } : {}),
        };
      });
    } catch (error) {
      return { claimed: 0, forwarded: 0, deferred: 0, failure: { target: 'database', error } };
    }
  }

  /**
   * Rows are claimed oldest first, skipping locked ones; so an athlete's pending row outside this batch that is
   * older than a claimed one is held by another relay right now. The newer rows wait for the next round: each
   * athlete's events reach its workflow in the order they were recorded, whichever instance forwards them.
   */
  async function withoutOvertaking(tx: Db, rows: InboxRow[]): Promise<InboxRow[]> {
    const outside = await oldestPendingOutside(tx, [...new Set(rows.map((row) => row.ownerId))], rows.map((row) => row.id));
    return rows.filter((row) => !((outside.get(row.ownerId) ?? Infinity) < row.id));
  }

  /**
   * Signals each athlete's rows in id order; athletes run in parallel. The first failure stops new signals
   * (Temporal is most likely down) so a batch does not wait out one deadline per row.
   */
  async function forwardInOrder(rows: InboxRow[]): Promise<{ forwarded: number[]; failed: number[]; error?: unknown }> {
    const byOwner = new Map<number, InboxRow[]>();
    for (const row of rows) {
      const list = byOwner.get(row.ownerId) ?? [];
      list.push(row);
      byOwner.set(row.ownerId, list);
    }
    const queues = [...byOwner.values()];
    const forwarded: number[] = [];
    const failed: number[] = [];
    let firstError: unknown;
    let stopped = false;
    const worker = async () => {
      for (let queue = queues.shift(); queue; queue = queues.shift()) {
        for (const row of queue) {
          if (stopped) break;
          try {
            await forwarder.deliver(toEventSignal(row));
            forwarded.push(row.id);
          } catch (error) {
            stopped = true;
            firstError ??= error;
            failed.push(row.id);
            break;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queues.length) }, worker));
    return { forwarded, failed, error: firstError };
  }

  function sleep(ms: number, interruptible: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        endSleep = undefined;
        sleepInterruptible = false;
        resolve();
      }
      endSleep = done;
      sleepInterruptible = interruptible;
      if (!running) done();
    });
  }

  async function run(): Promise<void> {
    while (running) {
      nudged = false;
      const result = await drainOnce();
      if (!running) break;
      if (result.failure) {
        const wasHealthy = backoffMs === 0;
        backoffMs = wasHealthy ? minBackoffMs : Math.min(backoffMs * 2, maxBackoffMs);
        relayFailures.inc({ target: result.failure.target });
        const message = result.failure.error instanceof Error ? result.failure.error.message : String(result.failure.error);
        if (wasHealthy) logger?.warn({ target: result.failure.target, err: message }, 'webhook relay: forwarding failed; backing off');
        await sleep(backoffMs, false);
        continue;
      }
      if (backoffMs > 0) {
        logger?.info('webhook relay: forwarding again');
        backoffMs = 0;
      }
      // Everything claimed waits behind another relay's batch: give it a moment instead of spinning.
      if (result.claimed > 0 && result.forwarded === 0 && result.deferred === result.claimed) {
        await sleep(50, false);
        continue;
      }
      // A full batch means more may be waiting.
      if (result.claimed === batchSize) continue;
      // New rows arrived during the batch: collect a few more before the next claim.
      if (nudged) await sleep(nudgeDelayMs, false);
      else await sleep(idlePollMs, true);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run().catch((error: unknown) => logger?.error({ err: String(error) }, 'webhook relay stopped unexpectedly'));
    },
    nudge() {
      nudged = true;
      if (nudgeTimer || !sleepInterruptible) return;
      nudgeTimer = setTimeout(() => {
        nudgeTimer = undefined;
        if (sleepInterruptible) endSleep?.();
      }, nudgeDelayMs);
    },
    drainOnce,
    async stop() {
      running = false;
      clearTimeout(nudgeTimer);
      nudgeTimer = undefined;
      endSleep?.();
      await loop;
    },
    get backingOff() {
      return backoffMs > 0;
    },
  };
}
