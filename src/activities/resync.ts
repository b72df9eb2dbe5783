import type { Sql } from '../db/connection.js';
import { DETAIL_LEVEL, removeActivities, upsertActivities } from '../db/repositories/activities.js';
import { beginResync, endResync, recordResyncSeen, unseenInWindow } from '../db/repositories/range-resyncs.js';
import type { AthleteActivities } from '../domain/activity-contract.js';
import type { AthleteStravaCalls } from './index.js';
import { asActivity } from './failures.js';

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
}): Pick<AthleteActivities, 'resyncPage' | 'finishResync'> {
  const { sql, strava, now } = deps;
  const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
  return {
    async resyncPage({ athleteId, resyncId, after, before, perPage }) {
      return asActivity(async () => {
        await beginResync(sql, resyncId, athleteId);
        const observedAt = new Date(now());
        const page = await strava.listActivities(athleteId, 'background', { after, before, page: 1, perPage: Math.min(perPage, 200) }, deps.cancellation());
        const outcome = await upsertActivities(sql, athleteId, page, { detailLevel: DETAIL_LEVEL.summary, observedAt });
        await recordResyncSeen(sql, resyncId, page.map((a) => a.id));
        const starts = page.map((a) => epochSeconds(a.start_date));
        return {
          listed: page.length,
          added: outcome.added.length,
          updated: outcome.updated.length,
          newestStart: starts.length ? Math.max(...starts) : null,
          requests: 1,
        };
      });
    },

    async finishResync({ athleteId, resyncId, after, before }) {
      const missing = await unseenInWindow(sql, resyncId, athleteId, new Date(after * 1000), new Date(before * 1000));
      const deleted = await removeActivities(sql, athleteId, missing, new Date(now()));
      await endResync(sql, resyncId);
      return { deleted: deleted.length };
    },
  };
}
