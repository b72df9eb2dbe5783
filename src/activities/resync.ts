import type { Sql } from '../db/connection.js';
import { DETAIL_LEVEL, removeActivities, upsertActivities } from '../db/repositories/activities.js';
import { beginResync, endResync, recordResyncSeen, unseenInWindow } from '../db/repositories/range-resyncs.js';
import type { AthleteActivities } from '../domain/activity-contract.js';
import { epochSeconds, type AthleteStravaCalls } from './strava-calls.js';
import { asActivity } from './failures.js';
import type { RecordRun } from './run-recorder.js';

/**
 * The activities of a range re-sync (src/workflows/resync-steps.ts): one page at a time, oldest first, so a
 * re-sync interrupted anywhere resumes from the workflow's cursor; what Strava returned is recorded in PostgreSQL,
 * not carried in workflow history.
 */
export function createResyncActivities(deps: {
  sql: Sql;
  strava: AthleteStravaCalls;
  now: () => number;
  cancellation: () => AbortSignal | undefined;
  /** Each page and the removal pass are runs of the sync history (trigger resync). */
  recordRun: RecordRun;
}): Pick<AthleteActivities, 'resyncPage' | 'finishResync'> {
  const { sql, strava, now, recordRun } = deps;
  return {
    async resyncPage({ athleteId, resyncId, after, before, perPage }) {
      return asActivity(() =>
        recordRun({ athleteId, activity: 'resync_page', trigger: 'resync' }, async (progress) => {
          await beginResync(sql, resyncId, athleteId);
          const observedAt = new Date(now());
          const page = await strava.listActivities(athleteId, 'background', { after, before, page: 1, perPage: Math.min(perPage, 200) }, deps.cancellation());
          progress.requests = 1;
          const outcome = await upsertActivities(sql, athleteId, page, { detailLevel: DETAIL_LEVEL.summary, observedAt });
          progress.added = outcome.added.length;
          progress.updated = outcome.updated.length;
          progress.changes = outcome.added.length + outcome.webhookFieldsChanged.length;
          await recordResyncSeen(sql, resyncId, page.map((a) => a.id));
          const starts = page.map((a) => epochSeconds(a.start_date));
          const value = {
            listed: page.length,
            added: outcome.added.length,
            updated: outcome.updated.length,
            newestStart: starts.length ? Math.max(...starts) : null,
            requests: 1,
          };
          return { value, tally: { outcome: 'ok' as const } };
        }),
      );
    },

    async finishResync({ athleteId, resyncId, after, before }) {
      return recordRun({ athleteId, activity: 'finish_resync', trigger: 'resync' }, async (progress) => {
        const missing = await unseenInWindow(sql, resyncId, athleteId, new Date(after * 1000), new Date(before * 1000));
        const deleted = await removeActivities(sql, athleteId, missing, new Date(now()));
        progress.deleted = progress.changes = deleted.length;
        await endResync(sql, resyncId);
        return { value: { deleted: deleted.length }, tally: { outcome: 'ok' as const } };
      });
    },
  };
}
