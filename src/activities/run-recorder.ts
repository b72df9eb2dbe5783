import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../db/connection.js';
import { recordSyncRun } from '../db/repositories/sync-runs.js';
import { FAILURE_TYPES, HANDLED_FAILURE_TYPES } from '../domain/failure-types.js';
import type { RunActivity, SyncTrigger } from '../domain/sync-history.js';
import { StravaError } from '../strava/errors.js';
import { toActivityFailure } from './failures.js';
import { countRun } from './sync-metrics.js';

/**
 * Records every attempt of a Strava activity in the sync history (sync_runs) and counts it in the worker's metrics.
 * One row per attempt: a failed attempt that Temporal retries is stored with will_retry = true, so the history shows
 * each try while the rates count only the attempts that settled a run. A worker that dies mid-attempt leaves no row
 * (its retry records one). Recording is best effort: a history that cannot be written is logged, never turned into
 * a failed sync.
 */

export interface RunIdentity {
  athleteId: number;
  activity: RunActivity;
  trigger: SyncTrigger;
  /** Backfills: when it was due (epoch ms). */
  dueAt?: number | undefined;
}

/**
 * What an attempt did so far: the work keeps it current as it goes, so an attempt that fails part-way (a sync
 * window after some pages) is recorded with the requests it used and the rows it already wrote.
 */
export interface RunProgress {
  requests: number;
  added: number;
  updated: number;
  deleted: number;
  /** Changes of the kinds a webhook announces: added, name/sport type/privacy changed, removed. */
  changes: number;
}

/** How a finished attempt ended, and the latencies of the change it wrote (webhook-triggered runs). */
export interface RunTally {
  outcome: 'ok' | 'skipped';
  eventToRowMs?: number | null;
  receiptToRowMs?: number | null;
}

export interface RunRecorderDeps {
  sql: Sql;
  log?: { warn(details: object, message: string): void };
  /** Wall clock (epoch ms) for started_at and durations. */
  wallClock?: () => number;
}

export type RecordRun = <T>(run: RunIdentity, work: (progress: RunProgress) => Promise<{ value: T; tally: RunTally }>) => Promise<T>;

/** The attempt number and retry policy of the running activity (attempt 1, no retries outside a worker). */
function attemptInfo(): { attempt: number; maximumAttempts: number | undefined; nonRetryable: string[] } {
  try {
    const { attempt, retryPolicy } = Context.current().info;
    return { attempt, maximumAttempts: retryPolicy?.maximumAttempts, nonRetryable: retryPolicy?.nonRetryableErrorTypes ?? [] };
  } catch {
    return { attempt: 1, maximumAttempts: 1, nonRetryable: [] };
  }
}

/**
 * The failure type a raw error becomes (the Temporal failure type the workflow sees, or the error's class for
 * errors Temporal retries as they are), and whether Temporal will run the activity again after it.
 */
export function classifyFailure(error: unknown, info = attemptInfo()): { failureType: string; willRetry: boolean } {
  const failure = toActivityFailure(error);
  if (failure instanceof ApplicationFailure) {
    const failureType = failure.type ?? 'Error';
    const final = failure.nonRetryable || HANDLED_FAILURE_TYPES.includes(failureType) || info.nonRetryable.includes(failureType);
    return { failureType, willRetry: !final && attemptsLeft(info) };
  }
  const failureType = error instanceof Error ? error.name : 'Error';
  return { failureType, willRetry: !info.nonRetryable.includes(failureType) && attemptsLeft(info) };
}

function attemptsLeft(info: { attempt: number; maximumAttempts: number | undefined }): boolean {
  return !info.maximumAttempts || info.attempt < info.maximumAttempts;
}

export function createRunRecorder(deps: RunRecorderDeps): RecordRun {
  const wallClock = deps.wallClock ?? Date.now;

  async function save(row: Parameters<typeof recordSyncRun>[1]): Promise<void> {
    try {
      await recordSyncRun(deps.sql, row);
    } catch (error) {
      deps.log?.warn({ athleteId: row.athleteId, trigger: row.trigger, err: error instanceof Error ? error.message : String(error) }, 'sync history: recording a run failed');
    }
    countRun(row);
  }

  return async (run, work) => {
    const startedAt = wallClock();
    const progress: RunProgress = { requests: 0, added: 0, updated: 0, deleted: 0, changes: 0 };
    const base = { athleteId: run.athleteId, activity: run.activity, trigger: run.trigger, startedAt: new Date(startedAt), dueAt: run.dueAt !== undefined ? new Date(run.dueAt) : null };
    const info = attemptInfo();
    try {
      const { value, tally } = await work(progress);
      await save({
        ...base,
        outcome: tally.outcome,
        failureType: null,
        attempt: info.attempt,
        willRetry: false,
        ...progress,
        durationMs: wallClock() - startedAt,
        eventToRowMs: tally.eventToRowMs ?? null,
        receiptToRowMs: tally.receiptToRowMs ?? null,
      });
      return value;
    } catch (error) {
      const { failureType, willRetry } = classifyFailure(error, info);
      // A Strava answer (any status) used a request of the budget; a refusal by the governor or no answer did not.
      const answered = error instanceof StravaError && error.status !== undefined ? 1 : 0;
      await save({
        ...base,
        outcome: failureType === FAILURE_TYPES.rateLimited ? 'rate_limited' : 'failed',
        failureType,
        attempt: info.attempt,
        willRetry,
        ...progress,
        requests: progress.requests + answered,
        durationMs: wallClock() - startedAt,
        eventToRowMs: null,
        receiptToRowMs: null,
      });
      throw error;
    }
  };
}
