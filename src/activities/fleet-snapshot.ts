import type { Sql } from '../db/connection.js';
import { activityRecencies, connectedAthleteIds } from '../db/repositories/activities.js';
import { lastGenuineWebhookAt, readSubscriptionCheck } from '../db/repositories/subscription-health.js';
import { loadWebhookDelivery } from '../db/repositories/sync-health.js';
import {
  ACTIVITY_WINDOW_MS,
  WEBHOOK_EVIDENCE_WINDOW_MS,
  WEBHOOK_SILENCE_MS,
  activityClassOf,
  uploadedWithinWindow,
  type ActivityClass,
  type ActivityRecency,
  type FleetLoad,
  type WebhookEvidence,
} from '../domain/fleet-load.js';
import { DEFAULT_DAILY_BACKGROUND_BUDGET } from '../domain/read-budget.js';

/** How long a full read of the fleet's recencies and webhook evidence serves (membership is exact on every plan). */
export const FLEET_SNAPSHOT_MS = 60_000;

export interface FleetSnapshotDeps {
  sql: Sql;
  /** Clock of activity start times (the emulator's in tests). */
  now: () => number;
  /** Wall clock: webhook receipt times, which the silence check compares with. */
  wallClock: () => number;
  /** Requests per day the background share allows: a number, or a function asking the governor (learned limits). */
  dailyBackgroundBudget?: number | (() => Promise<number>);
}

interface Snapshot {
  at: number;
  recencies: Map<number, ActivityRecency>;
  evidence: WebhookEvidence;
  dailyBackgroundBudget: number;
}

/**
 * The fleet as the backfill planner sees it (fleetLoad). Reading every athlete's recency costs tens of milliseconds
 * at 10,000 athletes, so that read serves a minute; but which athletes are connected is read on every plan (one
 * row), so a fleet that grows or shrinks within the minute is counted exactly: a newcomer is read alone and
 * classed by its own activities, a departed athlete drops out. A snapshot that missed newcomers made the first
 * ones look like the whole fleet (3 h intervals) and counted the rest as dormant (8x longer).
 */
export function createFleetSnapshot(deps: FleetSnapshotDeps): (athleteId: number) => Promise<FleetLoad> {
  const { sql } = deps;
  let snapshot: Snapshot | undefined;

  async function readAll(at: number): Promise<Snapshot> {
    const [rows, delivery] = await Promise.all([
      activityRecencies(sql, new Date(at - ACTIVITY_WINDOW_MS)),
      loadWebhookDelivery(sql, WEBHOOK_EVIDENCE_WINDOW_MS),
    ]);
    const recencies = new Map(rows.map(({ athleteId, ...recency }) => [athleteId, recency]));
    const budget = deps.dailyBackgroundBudget ?? DEFAULT_DAILY_BACKGROUND_BUDGET;
    return {
      at,
      recencies,
      evidence: { ...delivery, subscriptionSilent: await subscriptionLooksSilent(sql, deps.wallClock(), [...recencies.values()]) },
      dailyBackgroundBudget: typeof budget === 'number' ? budget : await budget(),
    };
  }

  /** Brings the snapshot's membership up to date: newcomers read alone, departures dropped. */
  async function followMembership(current: Snapshot, at: number): Promise<void> {
    const connected = await connectedAthleteIds(sql);
    for (const id of current.recencies.keys()) if (!connected.has(id)) current.recencies.delete(id);
    const newcomers = [...connected].filter((id) => !current.recencies.has(id));
    if (newcomers.length === 0) return;
    for (const { athleteId, ...recency } of await activityRecencies(sql, new Date(at - ACTIVITY_WINDOW_MS), newcomers)) {
      current.recencies.set(athleteId, recency);
    }
  }

  return async (athleteId) => {
    const at = deps.now();
    if (!snapshot || at - snapshot.at > FLEET_SNAPSHOT_MS) snapshot = await readAll(at);
    else await followMembership(snapshot, at);
    const athletes: Record<ActivityClass, number> = { active: 0, recent: 0, dormant: 0 };
    for (const recency of snapshot.recencies.values()) athletes[activityClassOf(recency, at)] += 1;
    const own = snapshot.recencies.get(athleteId);
    return {
      athletes,
      athleteClass: own ? activityClassOf(own, at) : 'dormant',
      dailyBackgroundBudget: snapshot.dailyBackgroundBudget,
      evidence: snapshot.evidence,
    };
  };
}

/**
 * The subscription may be gone: Strava's last answer listed none, or athletes uploaded within 14 days and no genuine
 * webhook arrived for WEBHOOK_SILENCE_MS. Adaptive backfill then tightens at once instead of waiting for repairs.
 * Judged on the wall clock, like the webhooks' receipt times (activities may run on Strava's clock).
 */
async function subscriptionLooksSilent(sql: Sql, wallNow: number, recencies: ActivityRecency[]): Promise<boolean> {
  const [check, lastWebhook] = await Promise.all([readSubscriptionCheck(sql), lastGenuineWebhookAt(sql)]);
  if (check?.answeredAt && check.subscriptionId === null) return true;
  const uploading = recencies.some((recency) => uploadedWithinWindow(recency.latestStart, wallNow));
  return uploading && lastWebhook !== null && wallNow - lastWebhook.getTime() > WEBHOOK_SILENCE_MS;
}
