import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AthleteActivities, FetchActivityResult, SyncWindowResult } from '../../src/domain/activity-contract.js';
import type { StravaEventSignal } from '../../src/domain/sync-types.js';
import type { FleetLoad } from '../../src/domain/fleet-load.js';

export interface Call {
  name: keyof AthleteActivities;
  input: Record<string, unknown>;
  runId: string;
}

/** GrantRevoked: NeedsReauth as the activities raise it when Strava refuses the tokens themselves. */
type Behaviour = 'ok' | 'RateLimited' | 'NeedsReauth' | 'GrantRevoked' | 'AppForbidden';

/**
 * In-memory stand-in for createActivities(deps): the same shape, a tiny "Strava" (truth) and "database"
 * (stored), and a log of every call with the workflow run that made it.
 */
export class FakeActivities {
  calls: Call[] = [];
  /** Strava's truth: activity id -> version (absent: 404). */
  truth = new Map<number, number>();
  /** Ids a list of the recent window returns (the others started too long ago): a subset of truth. */
  listable = new Set<number>();
  /** What the sync stored: activity id -> version. */
  stored = new Map<number, number>();
  /** Import history: start epochs (s), newest first. */
  history: number[] = [];
  /** Next outcomes of Strava calls, consumed in order ('ok' when empty). */
  behaviours: Behaviour[] = [];
  authorized = true;
  fleet: FleetLoad = { athletes: { active: 1, recent: 0, dormant: 0 }, dailyBackgroundBudget: 600, athleteClass: 'active' };
  windowResult: Omit<SyncWindowResult, 'syncedAt'> = { listed: 0, added: 0, updated: 0, deleted: 0, repaired: 0, requests: 1 };
  /** The purge waits for this gate when set. */
  purgeGate: Promise<void> | undefined;
  /** A disconnect's purge finds the request withdrawn (the athlete connected again): nothing is purged. */
  disconnectWithdrawn = false;
  /** Resolves gates by import page number (1-based): the page waits for it. */
  importGates = new Map<number, Promise<void>>();

  callsOf(name: keyof AthleteActivities): Call[] {
    return this.calls.filter((c) => c.name === name);
  }

  /** Strava requests made so far (every fake Strava call is one request). */
  stravaRequests(): number {
    return this.calls.filter((c) => c.name === 'fetchActivity' || c.name === 'syncWindow' || c.name === 'importPage' || c.name === 'verifyAuthorization').length;
  }

  private record(name: keyof AthleteActivities, input: object) {
    let runId = '';
    try {
      runId = Context.current().info.workflowExecution?.runId ?? "";
    } catch {
      // outside an activity
    }
    this.calls.push({ name, input: { ...input } as Record<string, unknown>, runId });
  }

  private strava() {
    const next = this.behaviours.shift() ?? 'ok';
    if (next === 'RateLimited') {
      throw ApplicationFailure.create({ type: 'RateLimited', message: 'budget', nextRetryDelay: 60_000, details: [{ retryAfterMs: 60_000 }] });
    }
    if (next === 'GrantRevoked') {
      throw ApplicationFailure.create({ type: 'NeedsReauth', message: 'token refused', nonRetryable: true, details: [{ grantRevoked: true }] });
    }
    if (next !== 'ok') throw ApplicationFailure.create({ type: next, message: next, nonRetryable: true });
  }

  activities(): AthleteActivities {
    return {
      importPage: async (input) => {
        this.record('importPage', input);
        const page = this.callsOf('importPage').length;
        await this.importGates.get(page);
        this.strava();
        const candidates = this.history.filter((s) => input.before === null || s < input.before);
        const slice = candidates.slice(0, input.perPage);
        return { listed: slice.length, added: slice.length, updated: 0, skipped: 0, oldestStart: slice.length ? Math.min(...slice) : null, requests: 1 };
      },
      syncWindow: async (input) => {
        this.record('syncWindow', input);
        this.strava();
        const found = input.watch?.filter((id) => this.listable.has(id) && this.truth.has(id));
        for (const id of found ?? []) this.stored.set(id, this.truth.get(id)!);
        return { ...this.windowResult, syncedAt: Date.now(), ...(found ? { found } : {}) };
      },
      fetchActivity: async (input): Promise<FetchActivityResult> => {
        this.record('fetchActivity', input);
        this.strava();
        const version = this.truth.get(input.activityId);
        if (version === undefined) return { outcome: 'not_found', added: false, changed: false, requests: 1 };
        const added = !this.stored.has(input.activityId);
        this.stored.set(input.activityId, version);
        return { outcome: 'upserted', added, changed: true, requests: 1 };
      },
      removeActivity: async (input) => {
        this.record('removeActivity', input);
        return { deleted: this.stored.delete(input.activityId) };
      },
      recordAthleteState: async (input) => {
        this.record('recordAthleteState', input);
      },
      recordSyncTime: async (input) => {
        this.record('recordSyncTime', input);
      },
      recordBackfillPlan: async (input) => {
        this.record('recordBackfillPlan', input);
      },
      fleetLoad: async (input) => {
        this.record('fleetLoad', input);
        return this.fleet;
      },
      verifyAuthorization: async (input) => {
        this.record('verifyAuthorization', input);
        this.strava();
        return { authorized: this.authorized, requests: 1 };
      },
      deauthorizeAthlete: async (input) => {
        this.record('deauthorizeAthlete', input);
        return { requests: 1 };
      },
      resyncPage: async (input) => {
        this.record('resyncPage', input);
        this.strava();
        // Oldest first within the window, as Strava lists with `after`.
        const slice = this.history.filter((s) => s > input.after && s < input.before).sort((a, b) => a - b).slice(0, input.perPage);
        return { listed: slice.length, added: 0, updated: slice.length, newestStart: slice.length ? Math.max(...slice) : null, requests: 1 };
      },
      finishResync: async (input) => {
        this.record('finishResync', input);
        return { deleted: 0 };
      },
      purgeAthlete: async (input) => {
        this.record('purgeAthlete', input);
        await this.purgeGate;
        if (input.onlyIfDisconnectRequested && this.disconnectWithdrawn) return { activitiesDeleted: 0, purged: false };
        const activitiesDeleted = this.stored.size;
        this.stored.clear();
        return { activitiesDeleted, purged: true };
      },
    };
  }
}

export function activityEvent(
  athleteId: number,
  activityId: number,
  aspectType: StravaEventSignal['aspectType'],
  eventTime: number,
  extra: Partial<StravaEventSignal> = {},
): StravaEventSignal {
  return { objectType: 'activity', objectId: activityId, aspectType, ownerId: athleteId, eventTime, updatedFields: [], ...extra };
}

export function deauthEvent(athleteId: number, eventTime: number): StravaEventSignal {
  return {
    objectType: 'athlete',
    objectId: athleteId,
    aspectType: 'update',
    ownerId: athleteId,
    eventTime,
    updatedFields: ['authorized'],
    deauthorized: true,
  };
}
