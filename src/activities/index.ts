import { Context } from '@temporalio/activity';
import type { Sql } from '../db/connection.js';
import type { Priority, SyncState } from '../domain/sync-types.js';
import type { DetailedActivity, StravaAthlete, SummaryActivity } from '../domain/strava-objects.js';
import { publishChange } from '../db/change-feed.js';
import { purgeAthlete, recordSync, setAthleteState } from '../db/repositories/athletes.js';
import {
  DETAIL_LEVEL,
  activityIdsStartedSince,
  countActivities,
  removeActivities,
  tombstoneOf,
  upsertActivities,
} from '../db/repositories/activities.js';
import { tokenRefreshCount } from '../db/repositories/tokens.js';
import { clampEventTime } from '../domain/event-time.js';
import type { FleetLoad } from '../domain/fleet-load.js';
import { recordBackfillPlan } from '../db/repositories/backfill-plans.js';
import { epochSeconds, type AthleteStravaCalls } from './strava-calls.js';
import { asActivity, isStravaError, toActivityFailure } from './failures.js';
import { createResyncActivities } from './resync.js';
import { createRunRecorder } from './run-recorder.js';
import { createFleetSnapshot } from './fleet-snapshot.js';
import type { AthleteActivities, FetchActivityResult } from '../domain/activity-contract.js';

export type { AthleteActivities } from '../domain/activity-contract.js';

export type { AthleteStravaCalls } from './strava-calls.js';

export interface ActivityLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface ActivityDeps {
  sql: Sql;
  strava: AthleteStravaCalls;
  /** Clock for observation times (tests pass the emulator's clock). */
  now?: () => number;
  /** Wall clock for the sync history's start times, durations and receipt latencies (defaults to Date.now). */
  wallClock?: () => number;
  log?: ActivityLogger;
  /**
   * Requests per day the governor's background share allows: a number, or a function asking the governor, whose
   * daily limit is the one Strava's headers reported (learned), not the configured default.
   */
  dailyBackgroundBudget?: number | (() => Promise<number>);
}

const MAX_PER_PAGE = 200;

/** The activity's cancellation signal, so a cancelled activity aborts its HTTP call (none outside a worker). */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** Well inside the workflow's heartbeatTimeout for Strava activities (15 s); the SDK throttles what it sends. */
const HEARTBEAT_EVERY_MS = 3_000;

/**
 * Keeps an activity heartbeating while it runs, so the server notices a dead worker within the heartbeat
 * timeout (and the activity sees cancellation). Outside a worker (unit tests) it just runs the function.
 */
function heartbeating<I, R>(fn: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return async (input) => {
    let context: Context;
    try {
      context = Context.current();
    } catch {
      return fn(input);
    }
    // A local activity has no heartbeat: its workflow task is what the server watches.
    if (context.info.isLocal) return fn(input);
    const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
    try {
      return await fn(input);
    } finally {
      clearInterval(timer);
    }
  };
}


/** Builds the athlete activities around injected dependencies (tests inject fakes with the same shape). */
export function createActivities(deps: ActivityDeps): AthleteActivities {
  const { sql, strava } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.log;
  const wallClock = deps.wallClock ?? Date.now;
  const fleetLoad = createFleetSnapshot({ sql, now, wallClock, ...(deps.dailyBackgroundBudget !== undefined ? { dailyBackgroundBudget: deps.dailyBackgroundBudget } : {}) });
  const recordRun = createRunRecorder({ sql, wallClock, ...(log ? { log } : {}) });

  /**
   * The latencies of a change a webhook-triggered run wrote: from Strava's event_time (on the clock event times are
   * clamped to) and from the webhook's receipt (wall clock, like the API's receipt time). None when nothing changed:
   * an event whose change a list already stored measures nothing of the webhook path.
   */
  const latencies = (changes: number, eventTime: number, receivedAt: number | undefined) =>
    changes > 0
      ? {
          eventToRowMs: Math.max(0, now() - eventTime * 1000),
          receiptToRowMs: typeof receivedAt === 'number' && Number.isFinite(receivedAt) ? Math.max(0, wallClock() - receivedAt) : null,
        }
      : {};

  const activities: AthleteActivities = {
    async importPage({ athleteId, before, perPage, trigger }) {
      return asActivity(() =>
        recordRun({ athleteId, activity: 'import_page', trigger: trigger ?? 'import_page' }, async (progress) => {
          const observedAt = new Date(now());
          const query = { perPage: Math.min(perPage, MAX_PER_PAGE), page: 1, ...(before !== null ? { before } : {}) };
          const page = await strava.listActivities(athleteId, 'background', query, cancellation());
          progress.requests = 1;
          const outcome = await upsertActivities(sql, athleteId, page, { detailLevel: DETAIL_LEVEL.summary, observedAt });
          // The history import is neither delivered nor repaired: its rows count as written, not as changes.
          progress.added = outcome.added.length;
          progress.updated = outcome.updated.length;
          const starts = page.map((a) => epochSeconds(a.start_date));
          const value = {
            listed: page.length,
            added: outcome.added.length,
            updated: outcome.updated.length,
            skipped: outcome.skipped.length,
            oldestStart: starts.length ? Math.min(...starts) : null,
            requests: 1,
            stored: await countActivities(sql, athleteId),
          };
          return { value, tally: { outcome: 'ok' } };
        }),
      );
    },

    async syncWindow({ athleteId, after, priority, kind, perPage = MAX_PER_PAGE, watch, trigger, dueAt }) {
      const run = { athleteId, activity: 'sync_window', trigger: trigger ?? (kind === 'backfill' ? 'backfill' : 'manual'), dueAt } as const;
      return asActivity(() =>
        recordRun(run, async (progress) => {
          const syncedAt = now();
          const observedAt = new Date(syncedAt);
          const seen = new Set<number>();
          let repaired = 0;
          const signal = cancellation();
          // One athlete's steps run one at a time, so a refresh between these two reads is this listing's.
          const refreshesBefore = await tokenRefreshCount(sql, athleteId);
          for (let page = 1; ; page++) {
            const list = await strava.listActivities(athleteId, priority, { after, page, perPage }, signal);
            progress.requests += 1;
            for (const a of list) seen.add(a.id);
            const outcome = await upsertActivities(sql, athleteId, list, { detailLevel: DETAIL_LEVEL.summary, observedAt });
            progress.added += outcome.added.length;
            progress.updated += outcome.updated.length;
            repaired += outcome.added.length + outcome.webhookFieldsChanged.length;
            progress.changes = repaired;
            if (list.length < perPage) break;
          }
          // What Strava no longer returns inside the window was deleted or made invisible: remove it here too.
          const stored = await activityIdsStartedSince(sql, athleteId, new Date(after * 1000));
          const missing = stored.filter((id) => !seen.has(id));
          const deleted = await removeActivities(sql, athleteId, missing, observedAt);
          repaired += deleted.length;
          progress.deleted = deleted.length;
          progress.changes = repaired;
          await recordSync(sql, athleteId, observedAt, kind === 'backfill' ? 'backfill' : 'sync');
          const { added, updated, requests } = progress;
          if (repaired > 0) log?.info({ athleteId, kind, added, deleted: deleted.length, repaired }, 'sync repaired missed changes');
          const found = watch?.filter((id) => seen.has(id));
          const count = await countActivities(sql, athleteId);
          const tokensRefreshed = Math.max(0, (await tokenRefreshCount(sql, athleteId)) - refreshesBefore);
          const value = { listed: seen.size, added, updated, deleted: deleted.length, repaired, requests, syncedAt, stored: count, tokensRefreshed, ...(found ? { found } : {}) };
          return { value, tally: { outcome: 'ok' } };
        }),
      );
    },

    async fetchActivity({ athleteId, activityId, priority, eventTime: signalled, trigger, receivedAt }) {
      return asActivity(() =>
        recordRun<FetchActivityResult>({ athleteId, activity: 'fetch_activity', trigger: trigger ?? 'webhook' }, async (progress) => {
          const eventTime = clampEventTime(signalled, now());
          const deletedAt = await tombstoneOf(sql, athleteId, activityId);
          if (deletedAt && deletedAt.getTime() > eventTime * 1000) {
            return { value: { outcome: 'superseded', added: false, changed: false, requests: 0 } as const, tally: { outcome: 'skipped' } };
          }
          let detail: DetailedActivity;
          try {
            detail = await strava.getActivity(athleteId, priority, activityId, cancellation());
          } catch (error) {
            if (isStravaError(error, 'not_found')) {
              progress.requests = 1;
              return { value: { outcome: 'not_found', added: false, changed: false, requests: 1 } as const, tally: { outcome: 'ok' } };
            }
            throw error;
          }
          progress.requests = 1;
          if (detail.athlete.id !== athleteId) {
            // A (forged) event naming another athlete's public activity: nothing of this athlete's changes, and no
            // removal or tombstone may follow from it (that would hide the other athlete's activity).
            log?.warn({ athleteId, activityId }, 'fetched activity belongs to another athlete; ignored');
            return { value: { outcome: 'superseded', added: false, changed: false, requests: 1 } as const, tally: { outcome: 'skipped' } };
          }
          // The event is not older than any recorded delete (checked above): this observation counts as after it.
          const observedAt = new Date(Math.max(now(), eventTime * 1000 + 1));
          const outcome = await upsertActivities(sql, athleteId, [detail], { detailLevel: DETAIL_LEVEL.detail, observedAt });
          progress.added = outcome.added.length;
          progress.updated = outcome.updated.length;
          progress.changes = outcome.added.length + outcome.webhookFieldsChanged.length;
          const value = {
            outcome: 'upserted',
            added: outcome.added.length > 0,
            changed: outcome.added.length + outcome.updated.length > 0,
            requests: 1,
          } as const;
          return { value, tally: { outcome: 'ok', ...latencies(progress.changes, eventTime, receivedAt) } };
        }),
      );
    },

    async removeActivity({ athleteId, activityId, eventTime, trigger, receivedAt }) {
      return recordRun({ athleteId, activity: 'remove_activity', trigger: trigger ?? 'webhook' }, async (progress) => {
        // A retry cannot fix a bad time, so it is clamped rather than failing: one signal never stalls an athlete.
        const applied = clampEventTime(eventTime, now());
        const deleted = await removeActivities(sql, athleteId, [activityId], new Date(applied * 1000));
        progress.deleted = deleted.length;
        progress.changes = deleted.length;
        return { value: { deleted: deleted.length > 0 }, tally: { outcome: 'ok', ...latencies(deleted.length, applied, receivedAt) } };
      });
    },

    async recordAthleteState({ athleteId, state }: { athleteId: number; state: SyncState }) {
      await setAthleteState(sql, athleteId, state);
      await publishChange(sql, { athleteId, kind: 'athlete_state' });
    },

    async recordSyncTime({ athleteId, at, kind }) {
      await recordSync(sql, athleteId, new Date(at), kind);
    },

    async recordBackfillPlan({ athleteId, dueAt }) {
      await recordBackfillPlan(sql, athleteId, new Date(dueAt));
    },

    async fleetLoad({ athleteId }): Promise<FleetLoad> {
      return fleetLoad(athleteId);
    },

    async verifyAuthorization({ athleteId }) {
      try {
        await strava.getAthlete(athleteId, 'realtime', cancellation());
        return { authorized: true, requests: 1 };
      } catch (error) {
        // A 401 on the token (or a refresh token Strava rejects) confirms the revocation.
        if (isStravaError(error, 'token_invalid', 'needs_reauth')) return { authorized: false, requests: 1 };
        throw toActivityFailure(error);
      }
    },

    async deauthorizeAthlete({ athleteId }) {
      try {
        await strava.deauthorize(athleteId);
      } catch (error) {
        // Already revoked at Strava, or no tokens left: nothing to deauthorize.
        if (!isStravaError(error, 'token_invalid', 'needs_reauth')) throw toActivityFailure(error);
      }
      return { requests: 1 };
    },

    async purgeAthlete({ athleteId, onlyIfDisconnectRequested }) {
      const { activitiesDeleted, purged } = await purgeAthlete(sql, athleteId, { onlyIfDisconnectRequested });
      if (purged) log?.info({ athleteId, activitiesDeleted }, 'athlete purged after deauthorization');
      else log?.info({ athleteId }, 'purge skipped: the athlete connected again after asking to disconnect');
      return { activitiesDeleted, purged };
    },

    ...createResyncActivities({ sql, strava, now, cancellation, recordRun }),
  };

  // The Strava calls (the workflow gives them a heartbeat timeout); database-only activities are short.
  return {
    ...activities,
    importPage: heartbeating(activities.importPage),
    syncWindow: heartbeating(activities.syncWindow),
    fetchActivity: heartbeating(activities.fetchActivity),
    verifyAuthorization: heartbeating(activities.verifyAuthorization),
    deauthorizeAthlete: heartbeating(activities.deauthorizeAthlete),
    resyncPage: heartbeating(activities.resyncPage),
  };
}
