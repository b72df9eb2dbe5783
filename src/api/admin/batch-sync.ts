import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Sql } from '../../db/connection.js';
import { listAthletes, type AthleteRow } from '../../db/repositories/athletes.js';
import {
  adoptBatch,
  batchFailures,
  createBatch,
  finishBatch,
  getBatch,
  markItemFailed,
  markItemSkipped,
  markItemStarted,
  markItemSucceeded,
  openBatchItems,
  renewBatch,
  tallyBatch,
  type NewBatchItem,
  type OpenBatchItem,
} from '../../db/repositories/sync-batches.js';
import type { PauseCause } from '../../domain/fleet-settings.js';
import { SYNC_NOW_REFUSALS } from '../../domain/failure-types.js';
import type { SyncNowMode } from '../../domain/sync-types.js';
import type { AthleteGateway, RequestedSync, SyncNowOutcome } from '../../temporal/athlete-gateway.js';
import type { AdminSyncBody, SyncBatchView } from './schemas.js';

export interface BatchSyncDeps {
  sql: Sql;
  workflows: Pick<AthleteGateway, 'requestSync' | 'syncOutcome' | 'status'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Athletes whose sync is open at once (requested and not yet answered). */
  concurrency: number;
  /** How long one request may wait for its workflow to accept it (a worker must pick it up). */
  acceptDeadlineMs?: number;
  /** One long poll for a sync's outcome. */
  outcomePollMs?: number;
  /** Give up waiting for one athlete's outcome after this long (TimedOut). */
  outcomeDeadlineMs?: number;
  /** The runner renews its claim this often; another instance adopts a batch whose claim is 6 renewals old. */
  heartbeatMs?: number;
  now?: () => number;
}

/** Not in the stored options: the batch's concurrency is this instance's setting. */
interface BatchOptions {
  skipIfSyncedWithinMs: number | null;
  limit: number | null;
}

/**
 * Batch sync (POST /admin/sync): every athlete gets the same sync-now update a client app sends, through its own
 * workflow (so the workflow's rules and the shared rate governor apply), at most `concurrency` at once; the
 * aggregate is summed from each athlete's Update result, never estimated.
 *
 * The batch lives in PostgreSQL, not in this process: the API runs as several instances behind one address, so
 * the caller's poll may reach another one; and when the instance running a batch stops, the next instance asked
 * about it adopts it (a sync already requested is looked up by its sync id, not requested twice).
 */
export function createBatchSync(deps: BatchSyncDeps) {
  const { sql, workflows, logger } = deps;
  const runnerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const acceptDeadlineMs = deps.acceptDeadlineMs ?? 10_000;
  const outcomePollMs = deps.outcomePollMs ?? 20_000;
  const outcomeDeadlineMs = deps.outcomeDeadlineMs ?? 30 * 60_000;
  const heartbeatMs = deps.heartbeatMs ?? 5_000;
  const now = deps.now ?? Date.now;
  const running = new Map<string, Promise<void>>();
  let stopping = false;

  /**
   * Why a row saying `paused` is paused, from its workflow (the row lags a resume by a sync): null when it is not
   * (any more). Without an answer the row is believed.
   */
  async function pauseCauses(rows: AthleteRow[]): Promise<Map<number, PauseCause | null>> {
    const causes = new Map<number, PauseCause | null>();
    let next = 0;
    const lane = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        const lookup = await workflows.status(row.id);
        causes.set(row.id, lookup.kind === 'running' ? (lookup.status.pausedBy ?? null) : 'operator');
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, rows.length) }, lane));
    return causes;
  }

  /** Which athletes to sync and which to skip (with why), the least recently synced first. */
  function plan(rows: AthleteRow[], requestedIds: number[] | null, options: BatchOptions, causes: Map<number, PauseCause | null>): NewBatchItem[] {
    const skipped: NewBatchItem[] = [];
    const eligible: AthleteRow[] = [];
    const known = new Set(rows.map((row) => row.id));
    for (const id of requestedIds ?? []) if (!known.has(id)) skipped.push({ athleteId: id, status: 'skipped', reason: 'not_connected' });
    const recentAfter = options.skipIfSyncedWithinMs !== null ? now() - options.skipIfSyncedWithinMs : null;
    for (const row of rows) {
      const skip = (reason: string) => skipped.push({ athleteId: row.id, status: 'skipped', reason });
      if (row.state === 'revoked') skip('revoked');
      else if (row.state === 'needs_reauth') skip('needs_reauth');
      // Strava refuses the application (403): the workflow waits out its back-off before serving anything.
      else if (row.state === 'paused' && causes.get(row.id) === 'strava') skip('app_refused');
      else if (row.state === 'paused' && causes.get(row.id) !== null) skip('paused');
      else if (recentAfter !== null && row.lastSyncAt && row.lastSyncAt.getTime() > recentAfter) skip('synced_recently');
      else eligible.push(row);
    }
    eligible.sort((a, b) => (a.lastSyncAt?.getTime() ?? 0) - (b.lastSyncAt?.getTime() ?? 0) || a.id - b.id);
    const chosen = options.limit !== null ? eligible.slice(0, options.limit) : eligible;
    const over = options.limit !== null ? eligible.slice(options.limit) : [];
    return [
      ...chosen.map((row): NewBatchItem => ({ athleteId: row.id, status: 'queued' })),
      ...over.map((row): NewBatchItem => ({ athleteId: row.id, status: 'skipped', reason: 'over_limit' })),
      ...skipped,
    ];
  }

  /** Requests one athlete's sync (unless already requested) and records its outcome. */
  async function syncOne(batchId: string, mode: SyncNowMode, item: OpenBatchItem): Promise<void> {
    const { athleteId } = item;
    let syncId = item.syncId;
    let poll: (waitMs: number) => Promise<SyncNowOutcome | undefined>;
    if (syncId) {
      // Requested by a runner that stopped: look the outcome up by its id.
      const known = syncId;
      poll = (waitMs) => workflows.syncOutcome(athleteId, known, waitMs);
    } else {
      let requested: RequestedSync;
      try {
        requested = await workflows.requestSync(athleteId, acceptDeadlineMs, mode === 'full' ? { mode } : undefined);
      } catch (error) {
        logger.warn({ err: error, athleteId, batchId }, 'batch sync: the workflow did not accept the sync request');
        await markItemFailed(sql, batchId, athleteId, 'NotAccepted', 'the workflow did not accept the sync request in time (is a worker running?)');
        return;
      }
      syncId = requested.syncId;
      await markItemStarted(sql, batchId, athleteId, syncId);
      poll = requested.outcome;
    }
    const deadline = now() + outcomeDeadlineMs;
    for (;;) {
      if (stopping) return; // left started: whoever adopts the batch looks the outcome up by its sync id
      let outcome: SyncNowOutcome | undefined;
      try {
        outcome = await poll(outcomePollMs);
      } catch (error) {
        // Temporal unreachable for a moment: ask again (bounded by the deadline below).
        logger.warn({ err: error, athleteId, batchId }, 'batch sync: could not read a sync outcome');
        outcome = { kind: 'pending', syncId };
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      if (outcome === undefined) {
        await markItemFailed(sql, batchId, athleteId, 'Lost', 'Temporal no longer knows this sync (the workflow was reset or terminated)');
        return;
      }
      if (outcome.kind === 'done') {
        const r = outcome.result;
        await markItemSucceeded(sql, batchId, athleteId, {
          added: r.added,
          updated: r.updated,
          deleted: r.deleted,
          requests: r.requests,
          tokensRefreshed: r.tokensRefreshed ?? 0,
          durationMs: Math.round(r.durationMs),
        });
        return;
      }
      if (outcome.kind === 'failed' && outcome.type === SYNC_NOW_REFUSALS.paused) {
        // Paused after the batch was planned: skipped like the athletes paused before.
        await markItemSkipped(sql, batchId, athleteId, 'paused');
        return;
      }
      if (outcome.kind === 'failed') {
        // The workflow refused the request (validator) or the sync failed: its failure type either way.
        await markItemFailed(sql, batchId, athleteId, outcome.type, outcome.message);
        return;
      }
      if (now() > deadline) {
        await markItemFailed(sql, batchId, athleteId, 'TimedOut', `no result within ${Math.round(outcomeDeadlineMs / 60_000)} min; the sync may still finish in its workflow`);
        return;
      }
    }
  }

  /** Works through a batch's open athletes, `concurrency` at a time, renewing the claim while it runs. */
  function run(batchId: string, mode: SyncNowMode): void {
    if (running.has(batchId)) return;
    const work = (async () => {
      let lost = false;
      const heartbeat = setInterval(() => {
        renewBatch(sql, batchId, runnerId)
          .then((ours) => (lost ||= !ours))
          .catch(() => {});
      }, heartbeatMs);
      heartbeat.unref();
      try {
        const items = await openBatchItems(sql, batchId);
        let next = 0;
        const lane = async () => {
          while (next < items.length && !stopping && !lost) await syncOne(batchId, mode, items[next++]!);
        };
        await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.concurrency, items.length)) }, lane));
        if (!stopping && !lost) {
          await finishBatch(sql, batchId);
          const tally = await tallyBatch(sql, batchId);
          const count = (status: string) => tally.filter((t) => t.status === status).reduce((sum, t) => sum + t.count, 0);
          logger.info({ batchId, succeeded: count('succeeded'), failed: count('failed'), skipped: count('skipped') }, 'batch sync finished');
        }
      } catch (error) {
        // The database went away mid-batch: the claim lapses and another look at the batch adopts it.
        logger.warn({ err: error, batchId }, 'batch sync interrupted');
      } finally {
        clearInterval(heartbeat);
        running.delete(batchId);
      }
    })();
    running.set(batchId, work);
  }

  async function view(batchId: string): Promise<SyncBatchView | undefined> {
    const batch = await getBatch(sql, batchId);
    if (!batch) return undefined;
    // Nobody has renewed this unfinished batch for six heartbeats: its runner stopped; carry on here.
    if (!batch.finishedAt && !running.has(batchId) && !stopping && (await adoptBatch(sql, batchId, runnerId, heartbeatMs * 6))) {
      logger.info({ batchId, from: batch.runner }, 'batch sync adopted from a runner that stopped');
      run(batchId, batch.mode);
    }
    const [tally, failures, fresh] = await Promise.all([tallyBatch(sql, batchId), batchFailures(sql, batchId, 50), getBatch(sql, batchId)]);
    const options = batch.options as Partial<BatchOptions>;
    const sum = (pick: (t: (typeof tally)[number]) => number, status?: string) =>
      tally.filter((t) => status === undefined || t.status === status).reduce((total, t) => total + pick(t), 0);
    const count = (status: string) => sum((t) => t.count, status);
    const byReason = (status: string) =>
      Object.fromEntries(tally.filter((t) => t.status === status).map((t) => [t.reason ?? 'unknown', t.count]));
    const finishedAt = fresh?.finishedAt ?? batch.finishedAt;
    return {
      batchId,
      statusUrl: `/admin/sync/${batchId}`,
      createdAt: batch.createdAt.toISOString(),
      finishedAt: finishedAt?.toISOString() ?? null,
      done: finishedAt !== null,
      mode: batch.mode,
      skipIfSyncedWithinMs: options.skipIfSyncedWithinMs ?? null,
      limit: options.limit ?? null,
      athletes: count('queued') + count('started') + count('succeeded') + count('failed') + count('skipped'),
      queued: count('queued'),
      started: count('started') + count('succeeded') + count('failed'),
      running: count('started'),
      succeeded: count('succeeded'),
      skipped: { total: count('skipped'), byReason: byReason('skipped') },
      failed: { total: count('failed'), byType: byReason('failed') },
      activities: { added: sum((t) => t.added), updated: sum((t) => t.updated), deleted: sum((t) => t.deleted) },
      tokensRefreshed: sum((t) => t.tokensRefreshed),
      requests: sum((t) => t.requests),
      failures: failures.map((f) => ({ athleteId: f.athleteId, type: f.type, message: f.message })),
    };
  }

  return {
    /** Plans and records a batch, starts it in the background and returns its id. */
    async start(body: AdminSyncBody): Promise<string> {
      const requestedIds = Array.isArray(body.athleteIds) ? [...new Set(body.athleteIds)] : null;
      const rows = await listAthletes(sql, requestedIds ? { ids: requestedIds } : {});
      const options: BatchOptions = { skipIfSyncedWithinMs: body.skipIfSyncedWithin ?? null, limit: body.limit ?? null };
      const causes = await pauseCauses(rows.filter((row) => row.state === 'paused'));
      const items = plan(rows, requestedIds, options, causes);
      const batchId = randomUUID();
      await createBatch(sql, { id: batchId, mode: body.mode, options: { ...options }, runner: runnerId, items });
      logger.info({ batchId, mode: body.mode, athletes: items.length, queued: items.filter((i) => i.status === 'queued').length }, 'batch sync started');
      if (items.some((item) => item.status === 'queued')) run(batchId, body.mode);
      return batchId;
    },

    view,

    /**
     * Stops taking new athletes and gives the outcomes in flight a moment to be recorded; syncs still open stay
     * `started` with their sync id, and whichever instance is asked about the batch next adopts it.
     */
    async stop(graceMs = 2_000): Promise<void> {
      stopping = true;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(running.values()), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    },
  };
}
export type BatchSync = ReturnType<typeof createBatchSync>;
