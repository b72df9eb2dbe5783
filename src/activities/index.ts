import { Context } from '@temporalio/activity';
import type { Sql } from '../db/connection.js';
import type { Priority, SyncState } from '../domain/sync-types.js';
import type { DetailedActivity, StravaAthlete, SummaryActivity } from '../domain/strava-objects.js';
import { publishChange } from '../db/change-feed.js';
import { purgeAthlete, recordSync, setAthleteState } from '../db/repositories/athletes.js';
import {
  DETAIL_LEVEL,
  activityIdsStartedSince,
  latestActivityStarts,
  removeActivities,
  tombstoneOf,
  upsertActivities,
} from '../db/repositories/activities.js';
import { clampEventTime } from '../domain/event-time.js';
import { activityClassOf, type ActivityClass, type FleetLoad } from '../domain/fleet-load.js';
import { DEFAULT_DAILY_BACKGROUND_BUDGET } from '../domain/read-budget.js';
import { asActivity, isStravaError, toActivityFailure } from './failures.js';
import type { AthleteActivities } from '../domain/activity-contract.js';

export type { AthleteActivities } from '../domain/activity-contract.js';

/**
 * The Strava calls the activities make (the shape of AthleteStrava from src/strava/athlete-api.ts): every call
 * passes the rate governor and takes its token from the vault, so no token ever reaches an activity.
 */
export interface AthleteStravaCalls {
  getAthlete(athleteId: number, priority: Priority, signal?: AbortSignal): Promise<StravaAthlete>;
  listActivities(
    athleteId: number,
    priority: Priority,
    query: { before?: number; after?: number; page?: number; perPage?: number },
    signal?: AbortSignal,
  ): Promise<SummaryActivity[]>;
  getActivity(athleteId: number, priority: Priority, activityId: number, signal?: AbortSignal): Promise<DetailedActivity>;
  deauthorize(athleteId: number): Promise<unknown>;
}

export interface ActivityLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface ActivityDeps {
  sql: Sql;
  strava: AthleteStravaCalls;
  /** Clock for observation times (tests pass the emulator's clock). */
  now?: () => number;
  log?: ActivityLogger;
  /** Requests per day the governor's background share allows (STRAVA_READ_LIMIT_DAILY x RATE_BACKGROUND_SHARE). */
  dailyBackgroundBudget?: number;
}

const FLEET_CACHE_MS = 60_000;
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
    const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
    try {
      return await fn(input);
    } finally {
      clearInterval(timer);
    }
  };
}

const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Builds the athlete activities around injected dependencies (tests inject fakes with the same shape). */
export function createActivities(deps: ActivityDeps): AthleteActivities {
  const { sql, strava } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.log;
  let fleetCache: { at: number; rows: { athleteId: number; latestStart: Date | null }[] } | undefined;

  const activities: AthleteActivities = {
    async importPage({ athleteId, before, perPage }) {
      return asActivity(async () => {
        const observedAt = new Date(now());
        const query = { perPage: Math.min(perPage, MAX_PER_PAGE), page: 1, ...(before !== null ? { before } : {}) };
        const page = await strava.listActivities(athleteId, 'background', query, cancellation());
        const outcome = await upsertActivities(sql, athleteId, page, { detailLevel: DETAIL_LEVEL.summary, observedAt });
        const starts = page.map((a) => epochSeconds(a.start_date));
        return {
          listed: page.length,
          added: outcome.added.length,
          updated: outcome.updated.length,
          skipped: outcome.skipped.length,
          oldestStart: starts.length ? Math.min(...starts) : null,
          requests: 1,
        };
      });
    },

    async syncWindow({ athleteId, after, priority, kind, perPage = MAX_PER_PAGE, watch }) {
      return asActivity(async () => {
        const syncedAt = now();
        const observedAt = new Date(syncedAt);
        const seen = new Set<number>();
        let added = 0;
        let updated = 0;
        let repaired = 0;
        let requests = 0;
        const signal = cancellation();
        for (let page = 1; ; page++) {
          const list = await strava.listActivities(athleteId, priority, { after, page, perPage }, signal);
          requests += 1;
          for (const a of list) seen.add(a.id);
          const outcome = await upsertActivities(sql, athleteId, list, { detailLevel: DETAIL_LEVEL.summary, observedAt });
          added += outcome.added.length;
          updated += outcome.updated.length;
          repaired += outcome.added.length + outcome.webhookFieldsChanged.length;
          if (list.length < perPage) break;
        }
        // What Strava no longer returns inside the window was deleted or made invisible: remove it here too.
        const stored = await activityIdsStartedSince(sql, athleteId, new Date(after * 1000));
        const missing = stored.filter((id) => !seen.has(id));
        const deleted = await removeActivities(sql, athleteId, missing, observedAt);
        repaired += deleted.length;
        await recordSync(sql, athleteId, observedAt, kind === 'backfill' ? 'backfill' : 'sync');
        if (repaired > 0) log?.info({ athleteId, kind, added, deleted: deleted.length, repaired }, 'sync repaired missed changes');
        const found = watch?.filter((id) => seen.has(id));
        return { listed: seen.size, added, updated, deleted: deleted.length, repaired, requests, syncedAt, ...(found ? { found } : {}) };
      });
    },

    async fetchActivity({ athleteId, activityId, priority, eventTime: signalled }) {
      return asActivity(async () => {
        const eventTime = clampEventTime(signalled, now());
        const deletedAt = await tombstoneOf(sql, athleteId, activityId);
        if (deletedAt && deletedAt.getTime() > eventTime * 1000) {
          return { outcome: 'superseded', added: false, changed: false, requests: 0 } as const;
        }
        let detail: DetailedActivity;
        try {
          detail = await strava.getActivity(athleteId, priority, activityId, cancellation());
        } catch (error) {
          if (isStravaError(error, 'not_found')) return { outcome: 'not_found', added: false, changed: false, requests: 1 } as const;
          throw error;
        }
        if (detail.athlete.id !== athleteId) {
          // A (forged) event naming another athlete's public activity: nothing of this athlete's changes, and no
          // removal or tombstone may follow from it (that would hide the other athlete's activity).
          log?.warn({ athleteId, activityId }, 'fetched activity belongs to another athlete; ignored');
          return { outcome: 'superseded', added: false, changed: false, requests: 1 } as const;
        }
        // The event is not older than any recorded delete (checked above): this observation counts as after it.
        const observedAt = new Date(Math.max(now(), eventTime * 1000 + 1));
        const outcome = await upsertActivities(sql, athleteId, [detail], { detailLevel: DETAIL_LEVEL.detail, observedAt });
        return {
          outcome: 'upserted',
          added: outcome.added.length > 0,
          changed: outcome.added.length + outcome.updated.length > 0,
          requests: 1,
        } as const;
      });
    },

    async removeActivity({ athleteId, activityId, eventTime }) {
      // A retry cannot fix a bad time, so it is clamped rather than failing: one signal never stalls an athlete.
      const deletedAt = new Date(clampEventTime(eventTime, now()) * 1000);
      const deleted = await removeActivities(sql, athleteId, [activityId], deletedAt);
      return { deleted: deleted.length > 0 };
    },

    async recordAthleteState({ athleteId, state }: { athleteId: number; state: SyncState }) {
      await setAthleteState(sql, athleteId, state);
      await publishChange(sql, { athleteId, kind: 'athlete_state' });
    },

    async recordSyncTime({ athleteId, at, kind }) {
      await recordSync(sql, athleteId, new Date(at), kind);
    },

    async fleetLoad({ athleteId }): Promise<FleetLoad> {
      const t = now();
      if (!fleetCache || t - fleetCache.at > FLEET_CACHE_MS) fleetCache = { at: t, rows: await latestActivityStarts(sql) };
      const athletes: Record<ActivityClass, number> = { active: 0, recent: 0, dormant: 0 };
      let athleteClass: ActivityClass = 'dormant';
      for (const row of fleetCache.rows) {
        const c = activityClassOf(row.latestStart, t);
        athletes[c] += 1;
        if (row.athleteId === athleteId) athleteClass = c;
      }
      return { athletes, athleteClass, dailyBackgroundBudget: deps.dailyBackgroundBudget ?? DEFAULT_DAILY_BACKGROUND_BUDGET };
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
  };

  // The Strava calls (the workflow gives them a heartbeat timeout); database-only activities are short.
  return {
    ...activities,
    importPage: heartbeating(activities.importPage),
    syncWindow: heartbeating(activities.syncWindow),
    fetchActivity: heartbeating(activities.fetchActivity),
    verifyAuthorization: heartbeating(activities.verifyAuthorization),
    deauthorizeAthlete: heartbeating(activities.deauthorizeAthlete),
  };
}
