import type { Priority } from '../domain/sync-types.js';
import type { DetailedActivity, StravaAthlete, SummaryActivity } from '../domain/strava-objects.js';

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

/** Epoch seconds of one of Strava's ISO times (start_date). */
export const epochSeconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
