import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { SyncResult } from '../../domain/sync-types.js';
import { athleteStartOptions, signalAthlete } from '../../temporal/athlete-workflow.js';
import type { AthleteStatus } from '../../workflows/athlete-state.js';
import type { athleteSync } from '../../workflows/athlete-sync.js';
import {
  appFocusSignal,
  athleteWorkflowId,
  disconnectSignal,
  reconnectedSignal,
  statusQuery,
  syncNowUpdate,
} from '../../workflows/messages.js';

/** How long a status query may take before the API answers from the database instead (no worker polling). */
const QUERY_DEADLINE_MS = 3_000;
/** How long a sync-now request may wait for the workflow to accept it (a worker must pick it up). */
const ACCEPT_DEADLINE_MS = 60_000;

export type WorkflowStatusLookup =
  | { kind: 'running'; status: AthleteStatus; runId: string }
  | { kind: 'closed'; workflowStatus: string }
  | { kind: 'absent' }
  | { kind: 'unavailable'; reason: string };

export type SyncNowOutcome =
  | { kind: 'done'; result: SyncResult }
  | { kind: 'pending'; syncId: string }
  | { kind: 'failed'; message: string };

/** A sync-now request that outlived SYNC_NOW_WAIT: enough to find its Update again later. */
interface SyncRef {
  /** Update id. */
  u: string;
  /** Run id, once known. */
  r?: string;
  /** When the request was made (epoch ms): an update not found yet may still be on its way. */
  t?: number;
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const newUpdateId = (): string => `sync-now-${randomUUID()}`;
/** What this module writes into a syncId; anything else is not one of ours (a forged or damaged id). */
const syncRefSchema = z.object({
  u: z.string().regex(new RegExp(`^sync-now-${UUID.source.slice(1, -1)}$`)),
  r: z.string().regex(UUID).optional(),
  t: z.number().int().nonnegative().max(8.64e15).optional(),
});
const encodeSyncId = (ref: SyncRef): string => Buffer.from(JSON.stringify(ref)).toString('base64url');
export function decodeSyncId(text: string): SyncRef | undefined {
  try {
    const parsed = syncRefSchema.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    if (!parsed.success) return undefined;
    const { u, r, t } = parsed.data;
    return { u, ...(r !== undefined ? { r } : {}), ...(t !== undefined ? { t } : {}) };
  } catch {
    return undefined;
  }
}

const delay = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());

/** Everything the API asks of athlete workflows, over one Temporal Client per process. */
export class AthleteWorkflows {
  constructor(
    private readonly client: Client,
    private readonly config: Config,
  ) {}

  /** The live status from the workflow's `status` query, or why it is not available. */
  async status(athleteId: number): Promise<WorkflowStatusLookup> {
    const handle = this.client.workflow.getHandle(athleteWorkflowId(athleteId));
    try {
      return await this.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, async () => {
        const description = await handle.describe();
        if (description.status.name !== 'RUNNING') return { kind: 'closed', workflowStatus: description.status.name };
        const status = await handle.query(statusQuery);
        return { kind: 'running', status, runId: description.runId };
      });
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { kind: 'absent' };
      return { kind: 'unavailable', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  async start(athleteId: number): Promise<void> {
    await this.client.workflow.start<typeof athleteSync>('athleteSync', athleteStartOptions(this.config, athleteId));
  }

  async focus(athleteId: number): Promise<void> {
    await signalAthlete(this.client, this.config, athleteId, appFocusSignal);
  }

  async reconnected(athleteId: number): Promise<void> {
    await signalAthlete(this.client, this.config, athleteId, reconnectedSignal);
  }

  async disconnect(athleteId: number): Promise<void> {
    await signalAthlete(this.client, this.config, athleteId, disconnectSignal);
  }

  /**
   * Update-with-start `syncNow`, waiting at most waitMs for the result. A slower sync keeps running in the
   * workflow; the caller gets a syncId to fetch the outcome later (the Update's result stays in history).
   */
  async syncNow(athleteId: number, waitMs: number): Promise<SyncNowOutcome> {
    const updateId = newUpdateId();
    const started = Date.now();
    // Until the update is accepted there is no run id: an early timeout refers to the latest run.
    let ref: SyncRef = { u: updateId, t: started };
    // Delivering the request is never abandoned early (a 202 must point at an update that will exist), but it
    // is bounded: a workflow that accepts nothing for ACCEPT_DEADLINE_MS (no worker) fails the request.
    const accepted = this.client.withDeadline(started + ACCEPT_DEADLINE_MS, () =>
      this.client.workflow.startUpdateWithStart(syncNowUpdate, {
        updateId,
        waitForStage: 'ACCEPTED',
        startWorkflowOperation: new WithStartWorkflowOperation<typeof athleteSync>('athleteSync', athleteStartOptions(this.config, athleteId)),
      }),
    );
    const abort = new AbortController();
    const outcome = accepted
      .then((handle) => {
        ref = { u: updateId, t: started, ...(handle.workflowRunId ? { r: handle.workflowRunId } : {}) };
        return this.client.withAbortSignal(abort.signal, async (): Promise<SyncNowOutcome> => ({ kind: 'done', result: await handle.result() }));
      })
      .catch(updateFailure);
    const winner = await Promise.race([outcome, delay(Math.max(0, waitMs - (Date.now() - started)))]);
    if (winner !== 'timeout') return winner;
    // Stop waiting for the result here; the Update itself goes on in the workflow.
    outcome.catch(() => {});
    void accepted.then(() => abort.abort(), () => {});
    return { kind: 'pending', syncId: encodeSyncId(ref) };
  }

  /**
   * Update-with-start `syncNow` without waiting for the sync itself: returns once the workflow has accepted
   * the request (the admin batch sync), with the syncId to look the outcome up later.
   */
  async requestSync(athleteId: number, deadlineMs: number): Promise<string> {
    const handle = await this.client.withDeadline(Date.now() + deadlineMs, () =>
      this.client.workflow.startUpdateWithStart(syncNowUpdate, {
        updateId: newUpdateId(),
        waitForStage: 'ACCEPTED',
        startWorkflowOperation: new WithStartWorkflowOperation<typeof athleteSync>('athleteSync', athleteStartOptions(this.config, athleteId)),
      }),
    );
    return encodeSyncId({ u: handle.updateId, ...(handle.workflowRunId ? { r: handle.workflowRunId } : {}) });
  }

  /**
   * The outcome of an earlier sync-now, waiting at most waitMs. Undefined when Temporal knows no such update
   * (a forged or wrong id); throws when Temporal cannot be reached.
   */
  async syncOutcome(athleteId: number, syncId: string, waitMs: number): Promise<SyncNowOutcome | undefined> {
    const ref = decodeSyncId(syncId);
    if (!ref) return undefined;
    // An id the server does not know: still being delivered (a recent request), or a wrong id. A request time
    // in the future is forged: it would keep an unknown id "pending" for ever.
    const unknown = (): SyncNowOutcome | undefined =>
      ref.t !== undefined && ref.t <= Date.now() && Date.now() - ref.t < ACCEPT_DEADLINE_MS ? { kind: 'pending', syncId } : undefined;
    const workflow = this.client.workflow.getHandle(athleteWorkflowId(athleteId), ref.r);
    // A short call first: an unreachable server must be an error, not look like a sync still running once
    // waitMs has passed on the long poll below.
    try {
      await this.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => workflow.describe());
    } catch (error) {
      if (isUnknownUpdate(error)) return unknown();
      throw error;
    }
    const handle = workflow.getUpdateHandle<SyncResult>(ref.u, ref.r ? { workflowRunId: ref.r } : undefined);
    const abort = new AbortController();
    const result = this.client
      .withAbortSignal(abort.signal, async (): Promise<SyncNowOutcome> => ({ kind: 'done', result: await handle.result() }))
      .catch(updateFailure)
      .catch((error: unknown): SyncNowOutcome | undefined => {
        if (isUnknownUpdate(error)) return unknown();
        throw error;
      });
    const winner = await Promise.race([result, delay(waitMs)]);
    if (winner !== 'timeout') return winner;
    abort.abort();
    result.catch(() => {});
    return { kind: 'pending', syncId };
  }
}

/** The workflow rejected or failed the update: a result for the caller, not a server error. */
function updateFailure(error: unknown): SyncNowOutcome {
  if (error instanceof WorkflowUpdateFailedError) {
    const cause = error.cause instanceof Error ? error.cause.message : error.message;
    return { kind: 'failed', message: cause };
  }
  throw error;
}

/**
 * The server does not know this update (or run) id: a wrong or forged syncId, told apart from a server that
 * cannot be reached (which stays a 503 for the caller).
 */
function isUnknownUpdate(error: unknown): boolean {
  if (error instanceof WorkflowNotFoundError) return true;
  const code = (error as { code?: number; cause?: { code?: number } })?.code ?? (error as { cause?: { code?: number } })?.cause?.code;
  return code === 5 || code === 3; // gRPC NOT_FOUND, INVALID_ARGUMENT (e.g. a run id that is no UUID)
}
