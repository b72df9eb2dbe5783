/**
 * The Temporal client side of the athlete workflow. Everything the API, the webhook relay and the CLI ask of
 * `athlete-<id>` workflows goes through this class, over the process's one Temporal Client (injected): start,
 * signal-with-start, update-with-start, the `status` query, the sync-now outcome lookup, and the settings sent to
 * running workflows.
 */
import {
  ApplicationFailure,
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowUpdateHandle,
} from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { FleetSettings } from '../domain/fleet-settings.js';
import type { StravaEventSignal, SyncNowRequest, SyncResult } from '../domain/sync-types.js';
import type { AthleteStatus } from '../workflows/athlete-state.js';
import type { athleteSync } from '../workflows/athlete-sync.js';
import {
  appFocusSignal,
  disconnectSignal,
  pauseSignal,
  reconnectedSignal,
  resumeSignal,
  resyncRangeSignal,
  settingsSignal,
  statusQuery,
  stravaEventSignal,
  syncNowUpdate,
  syncNowWithModeUpdate,
  type ResyncRequest,
} from '../workflows/messages.js';
import { athleteStartOptions, athleteWorkflowId, type AthleteGatewayConfig } from './athlete-start-options.js';
import { decodeSyncId, encodeSyncId, newSyncNowUpdateId, type SyncRef } from './sync-id.js';

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
  /** type: the workflow's failure type (SyncPaused, SyncNowRejected, RateLimited, ...); `Error` when it gave none. */
  | { kind: 'failed'; type: string; message: string };

/** A sync-now the workflow has accepted or refused: its syncId, and its outcome awaited on the live handle. */
export interface RequestedSync {
  syncId: string;
  outcome(waitMs: number): Promise<SyncNowOutcome>;
}

/** What one pass of sending settings did: workflows signalled, and those that could not be (retried next pass). */
export interface SettingsSendResult {
  signalled: number;
  failed: number;
}

/** How a webhook event reaches its athlete workflow. Both calls reject when Temporal does not accept the signal in time. */
export interface EventForwarder {
  /** signalWithStart on `athlete-<owner>` (conflict policy USE_EXISTING): the normal path, from the inbox. */
  deliver(signal: StravaEventSignal): Promise<void>;
  /**
   * Signals only a workflow that is already running. Used when PostgreSQL is down: without the athletes table
   * the receiver cannot tell a connected athlete from a stranger, and must not start workflows for strangers.
   */
  deliverToRunning(signal: StravaEventSignal): Promise<void>;
}

export { athleteStartOptions, athleteWorkflowId } from './athlete-start-options.js';

const delay = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());

export class AthleteGateway {
  /**
   * @param settings the operator's current settings (undefined until known): a workflow this gateway starts
   *   starts with them; one that starts without them is sent them by the next settings pass.
   */
  constructor(
    private readonly client: Client,
    private readonly config: AthleteGatewayConfig,
    private readonly settings: () => FleetSettings | undefined = () => undefined,
  ) {}

  /** Whether the Temporal frontend answers within deadlineMs (readiness); rejects otherwise. */
  async ping(deadlineMs: number): Promise<void> {
    await this.client.withDeadline(Date.now() + deadlineMs, () => this.client.workflowService.getSystemInfo({}));
  }

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
    await this.client.workflow.start<typeof athleteSync>('athleteSync', this.startOptions(athleteId));
  }

  async focus(athleteId: number): Promise<void> {
    await this.signalWithStart(athleteId, appFocusSignal);
  }

  async reconnected(athleteId: number): Promise<void> {
    await this.signalWithStart(athleteId, reconnectedSignal);
  }

  async disconnect(athleteId: number): Promise<void> {
    await this.signalWithStart(athleteId, disconnectSignal);
  }

  /** Queues a range re-sync of one window in the athlete's workflow. */
  async resync(athleteId: number, request: ResyncRequest): Promise<void> {
    await this.signalWithStart(athleteId, resyncRangeSignal, request);
  }

  /** An operator pauses the athlete's auto sync (a workflow not running starts paused). */
  async pause(athleteId: number): Promise<void> {
    await this.signalWithStart(athleteId, pauseSignal);
  }

  async resume(athleteId: number): Promise<void> {
    await this.signalWithStart(athleteId, resumeSignal);
  }

  /**
   * Sends `settings` to every running athlete workflow of this deployment (its task queue) that has not applied
   * that version yet, found by visibility (`SettingsVersion < version`, or none at all for workflows started
   * before there were settings), at most `concurrency` signals in flight. Workflows that already have it are
   * not signalled, so repeating a pass adds nothing to their histories. A workflow that closed meanwhile is
   * skipped; any other failure is counted and left to the next pass.
   */
  async sendSettings(settings: FleetSettings, concurrency: number): Promise<SettingsSendResult> {
    const result: SettingsSendResult = { signalled: 0, failed: 0 };
    if (settings.version <= 0) return result;
    const query = [
      `WorkflowType = 'athleteSync'`,
      `ExecutionStatus = 'Running'`,
      `TaskQueue = ${visibilityString(this.config.TEMPORAL_TASK_QUEUE)}`,
      `(SettingsVersion < ${Math.floor(settings.version)} OR SettingsVersion IS NULL)`,
    ].join(' AND ');
    const inFlight = new Set<Promise<void>>();
    for await (const workflow of this.client.workflow.list({ query, pageSize: 500 })) {
      const signal = this.client.workflow
        .getHandle(workflow.workflowId)
        .signal(settingsSignal, settings)
        .then(
          () => void (result.signalled += 1),
          (error: unknown) => {
            if (!(error instanceof WorkflowNotFoundError)) result.failed += 1;
          },
        )
        .finally(() => inFlight.delete(signal));
      inFlight.add(signal);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return result;
  }

  /** Webhook events for the relay and the receiver, each signal bounded by timeoutMs (the SDK would retry for long). */
  eventForwarder(timeoutMs: number): EventForwarder {
    const within = <T>(fn: () => Promise<T>) => this.client.withDeadline(Date.now() + timeoutMs, fn);
    return {
      deliver: (signal) => within(() => this.signalWithStart(signal.ownerId, stravaEventSignal, signal)),
      deliverToRunning: (signal) =>
        within(() => this.client.workflow.getHandle(athleteWorkflowId(signal.ownerId)).signal(stravaEventSignal, signal)),
    };
  }

  /**
   * Update-with-start `syncNow`, waiting at most waitMs for the result. A slower sync keeps running in the
   * workflow; the caller gets a syncId to fetch the outcome later (the Update's result stays in history).
   */
  async syncNow(athleteId: number, waitMs: number): Promise<SyncNowOutcome> {
    const updateId = newSyncNowUpdateId();
    const started = Date.now();
    // Until the update is accepted there is no run id: an early timeout refers to the latest run.
    let ref: SyncRef = { u: updateId, t: started };
    // Delivering the request is never abandoned early (a 202 must point at an update that will exist), but it
    // is bounded: a workflow that accepts nothing for ACCEPT_DEADLINE_MS (no worker) fails the request.
    const accepted = this.startSyncNowUpdate(athleteId, updateId, started + ACCEPT_DEADLINE_MS);
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
   * Update-with-start `syncNow` without waiting for the sync itself: returns once the workflow has accepted (or
   * refused) the request, with the syncId to look the outcome up later and `outcome(waitMs)` to wait for it on
   * this handle (a refusal by the workflow's validator is only there: it never enters history, so a lookup by
   * syncId would not find it). Rejects when no worker took the request within deadlineMs.
   */
  async requestSync(athleteId: number, deadlineMs: number, request?: SyncNowRequest): Promise<RequestedSync> {
    const handle = await this.startSyncNowUpdate(athleteId, newSyncNowUpdateId(), Date.now() + deadlineMs, request);
    const syncId = encodeSyncId({ u: handle.updateId, ...(handle.workflowRunId ? { r: handle.workflowRunId } : {}) });
    return {
      syncId,
      outcome: async (waitMs) => {
        const abort = new AbortController();
        const result = this.client
          .withAbortSignal(abort.signal, async (): Promise<SyncNowOutcome> => ({ kind: 'done', result: await handle.result() }))
          .catch(updateFailure);
        const winner = await Promise.race([result, delay(waitMs)]);
        if (winner !== 'timeout') return winner;
        abort.abort();
        result.catch(() => {});
        return { kind: 'pending', syncId };
      },
    };
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

  /** Signals the athlete's workflow, starting it first if it is not running. */
  private async signalWithStart<Args extends unknown[]>(athleteId: number, signal: SignalDefinition<Args>, ...args: Args): Promise<void> {
    await this.client.workflow.signalWithStart<typeof athleteSync, Args>('athleteSync', {
      ...this.startOptions(athleteId),
      signal,
      signalArgs: args,
      // The SDK's conditional option types cannot be resolved for a generic Args; the signature above is the check.
    } as never);
  }

  /** Update-with-start `syncNow` until the workflow has accepted it (or the deadline, epoch ms, passes). */
  private startSyncNowUpdate(athleteId: number, updateId: string, deadline: number, request?: SyncNowRequest): Promise<WorkflowUpdateHandle<SyncResult>> {
    const startWorkflowOperation = new WithStartWorkflowOperation<typeof athleteSync>('athleteSync', this.startOptions(athleteId));
    return this.client.withDeadline(deadline, () =>
      // Without a request no argument at all: exactly what callers sent before modes existed.
      request
        ? this.client.workflow.startUpdateWithStart(syncNowWithModeUpdate, { updateId, args: [request], waitForStage: 'ACCEPTED', startWorkflowOperation })
        : this.client.workflow.startUpdateWithStart(syncNowUpdate, { updateId, waitForStage: 'ACCEPTED', startWorkflowOperation }),
    );
  }

  private startOptions(athleteId: number) {
    return athleteStartOptions(this.config, athleteId, {}, this.settings());
  }
}

/** A string literal of the visibility query language (single quotes; a quote or backslash inside escaped). */
function visibilityString(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** The workflow rejected or failed the update: a result for the caller, not a server error. */
function updateFailure(error: unknown): SyncNowOutcome {
  if (error instanceof WorkflowUpdateFailedError) {
    const cause = error.cause instanceof Error ? error.cause.message : error.message;
    const type = error.cause instanceof ApplicationFailure ? (error.cause.type ?? 'Error') : 'Error';
    return { kind: 'failed', type, message: cause };
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
