import { log } from '@temporalio/workflow';
import { db, strava } from './strava-and-db-activities.js';
import { iso, type AthleteSyncRun } from './athlete-sync-run.js';
import type { ResyncJob } from './athlete-state.js';
import type { ResyncRequest } from './messages.js';

/**
 * Range re-sync (POST /athletes/:id/resync): lists one window of the athlete's activities at background priority,
 * page by page oldest first, upserting as it goes, then removes the stored activities of the window Strava no
 * longer returned. Its cursor lives in the carried state, so a crash or a continue-as-new resumes it at the page it
 * had reached; what Strava returned is recorded by the activities in PostgreSQL (never in history).
 */

/** Re-syncs waiting at most (one runs, the others queue); beyond that a request is dropped and counted. */
export const MAX_QUEUED_RESYNCS = 5;

/** The `resyncRange` signal: queues the window (a repeated id is the same request). */
export function recordResyncRequest(run: AthleteSyncRun, request: ResyncRequest): void {
  const { state, athleteId } = run;
  const valid =
    typeof request?.id === 'string' && /^[\w-]{1,100}$/.test(request.id) &&
    Number.isSafeInteger(request.after) && Number.isSafeInteger(request.before) && request.after >= 0 && request.after < request.before;
  if (!valid) {
    log.warn('malformed range re-sync request ignored', { athleteId });
    return;
  }
  if (state.resyncs.some((job) => job.id === request.id) || state.lastResync?.id === request.id) return;
  if (state.resyncs.length >= MAX_QUEUED_RESYNCS) {
    state.counters.resyncsDropped += 1;
    log.warn('range re-sync dropped: too many waiting', { athleteId, waiting: state.resyncs.length });
    return;
  }
  state.resyncs.push({
    id: request.id,
    after: request.after,
    before: request.before,
    cursor: request.after,
    pages: 0,
    listed: 0,
    added: 0,
    updated: 0,
    requestedAt: iso(Date.now()),
    startedAt: null,
  });
  run.wake = true;
}

/** One page of the first waiting re-sync; the last page finishes it. */
export async function resyncPage(run: AthleteSyncRun): Promise<void> {
  const { state, athleteId, opts } = run;
  const job = state.resyncs[0]!;
  job.startedAt ??= iso(Date.now());
  await run.setState('syncing');
  const outcome = await run.callStrava('background', () =>
    strava.resyncPage.executeWithOptions(
      { summary: `range re-sync page ${job.pages + 1}: after ${iso(job.cursor * 1000)}, before ${iso(job.before * 1000)}`, ...run.backgroundCall() },
      [{ athleteId, resyncId: job.id, after: job.cursor, before: job.before, perPage: opts.importPageSize }],
    ),
  );
  if (!outcome.ok) {
    if (outcome.kind === 'failed') state.backgroundHoldUntil = Date.now() + opts.errorRetryMs;
    return;
  }
  const page = outcome.value;
  job.pages += 1;
  job.listed += page.listed;
  job.added += page.added;
  job.updated += page.updated;
  if (page.listed < opts.importPageSize || page.newestStart === null) {
    await finishResync(run, job);
    return;
  }
  // Overlap one second (activities sharing the boundary second are listed again: upserts are idempotent), unless a
  // whole page shares one second: then past it, or the same page would come back for ever.
  job.cursor = page.newestStart - 1 > job.cursor ? page.newestStart - 1 : page.newestStart;
}

async function finishResync(run: AthleteSyncRun, job: ResyncJob): Promise<void> {
  const { state, athleteId } = run;
  const { deleted } = await db.finishResync.executeWithOptions({ summary: `range re-sync ${job.id}: remove what Strava no longer returns` }, [
    { athleteId, resyncId: job.id, after: job.after, before: job.before },
  ]);
  state.resyncs.shift();
  state.counters.resyncs += 1;
  const { cursor: _cursor, ...done } = job;
  state.lastResync = { ...done, deleted, finishedAt: iso(Date.now()) };
  log.info('range re-sync finished', { athleteId, resyncId: job.id, pages: job.pages, listed: job.listed, added: job.added, deleted });
}
