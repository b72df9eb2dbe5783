import type { CallOptions, ListActivitiesParams, StravaClient } from './client.js';
import { NeedsReauthError, RateBudgetExhaustedError, StravaRateLimitedError, StravaTokenInvalidError } from './errors.js';
import { dayExhausted, type RateUsage } from './rate-headers.js';
import type { Priority, RateGovernor } from './rate-governor.js';
import type { DetailedActivity, StravaAthlete, SummaryActivity } from '../domain/strava-objects.js';
import type { TokenVault } from './token-vault.js';

/**
 * Strava calls on behalf of an athlete, by athlete id: callers never see a token. Each call passes the rate
 * governor first (RateBudgetExhaustedError when refused, nothing is sent), takes a token from the vault, calls
 * Strava, feeds the response's usage headers back to the governor, and marks the window exhausted on a 429.
 */

export interface AthleteStrava {
  getAthlete(athleteId: number, priority: Priority, signal?: AbortSignal): Promise<StravaAthlete>;
  listActivities(athleteId: number, priority: Priority, params?: ListActivitiesParams, signal?: AbortSignal): Promise<SummaryActivity[]>;
  getActivity(athleteId: number, priority: Priority, activityId: number, signal?: AbortSignal): Promise<DetailedActivity>;
  /** Revokes the app's access at Strava. Tokens already invalid count as done. Does not delete stored tokens. */
  deauthorize(athleteId: number): Promise<void>;
}

export interface AthleteStravaDeps {
  client: StravaClient;
  vault: Pick<TokenVault, 'getAccessToken'>;
  governor: RateGovernor;
}

export function createAthleteStrava({ client, vault, governor }: AthleteStravaDeps): AthleteStrava {
  async function governed<T>(
    athleteId: number,
    priority: Priority,
    signal: AbortSignal | undefined,
    call: (token: string, options: CallOptions) => Promise<T>,
  ): Promise<T> {
    const permit = await governor.acquire(priority);
    if (!permit.ok) throw new RateBudgetExhaustedError(permit.waitMs, permit.reason);
    const token = await vault.getAccessToken(athleteId);
    const sentAt = governor.now();
    let usage: RateUsage | undefined;
    const options: CallOptions = { onRateUsage: (u) => (usage = u), ...(signal ? { signal } : {}) };
    try {
      return await call(token, options);
    } catch (error) {
      if (error instanceof StravaRateLimitedError) {
        await governor.markExhausted(dayExhausted(usage) ? 'day' : 'window');
      }
      throw error;
    } finally {
      if (usage) await governor.observe(usage, sentAt);
    }
  }

  return {
    getAthlete(athleteId, priority, signal) {
      return governed(athleteId, priority, signal, (token, options) => client.getAthlete(token, options));
    },
    listActivities(athleteId, priority, params = {}, signal) {
      return governed(athleteId, priority, signal, (token, options) => client.listAthleteActivities(token, params, options));
    },
    getActivity(athleteId, priority, activityId, signal) {
      return governed(athleteId, priority, signal, (token, options) => client.getActivity(token, activityId, options));
    },
    async deauthorize(athleteId) {
      let token: string;
      try {
        token = await vault.getAccessToken(athleteId);
      } catch (error) {
        if (error instanceof NeedsReauthError) return; // nothing valid left to revoke
        throw error;
      }
      try {
        await client.deauthorize(token);
      } catch (error) {
        if (error instanceof StravaTokenInvalidError) return; // already revoked at Strava
        throw error;
      }
    },
  };
}
