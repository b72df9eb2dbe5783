import type { CallOptions, ListActivitiesParams, StravaClient } from './client.js';
import {
  NeedsReauthError,
  RateBudgetExhaustedError,
  StravaAppForbiddenError,
  StravaRateLimitedError,
  StravaTokenInvalidError,
  type StravaError,
} from './errors.js';
import { dayExhausted, type RateUsage } from './rate-headers.js';
import type { Priority, RateGovernor } from './rate-governor.js';
import type { DetailedActivity, StravaAthlete, SummaryActivity } from '../domain/strava-objects.js';
import type { TokenVault } from './token-vault.js';

/**
 * Strava calls on behalf of an athlete, by athlete id: callers never see a token. Each call passes the rate
 * governor first (RateBudgetExhaustedError when refused, nothing is sent), takes a token from the vault, calls
 * Strava, feeds the response's usage headers back to the governor, and marks the window exhausted on a 429.
 * A 401 is checked against the refresh token before anyone concludes the athlete revoked (`governed`).
 */

export interface AthleteStrava {
  getAthlete(athleteId: number, priority: Priority, signal?: AbortSignal): Promise<StravaAthlete>;
  listActivities(athleteId: number, priority: Priority, params?: ListActivitiesParams, signal?: AbortSignal): Promise<SummaryActivity[]>;
  getActivity(athleteId: number, priority: Priority, activityId: number, signal?: AbortSignal): Promise<DetailedActivity>;
  /**
   * Revokes the app's access at Strava. Tokens already invalid count as done. Does not delete stored tokens (a
   * refresh token Strava refuses is deleted by the vault, as on any call).
   */
  deauthorize(athleteId: number): Promise<void>;
}

export interface AthleteStravaDeps {
  client: StravaClient;
  vault: Pick<TokenVault, 'getAccessToken' | 'refreshRejected'>;
  governor: RateGovernor;
}

/** Which part of a response's usage the governor may learn from (it budgets on the read pair). */
type UsageFeed = (usage: RateUsage) => RateUsage | undefined;
const everyPair: UsageFeed = (usage) => usage;
/**
 * /oauth/deauthorize was recorded with the overall pair only (strava-ruby-client deauthorize.yml: 600,30000):
 * taken for reads (budgetPair's fallback), those limits would replace the read limits the governor budgets on.
 */
const readPairOnly: UsageFeed = (usage) => (usage.read ? { read: usage.read } : undefined);

/**
 * A 401 naming the Application (`Application//invalid`) that persists although Strava has just accepted the
 * athlete's refresh token: the athlete's grant is alive, so it is the application that is refused. App-wide,
 * like a 403: never the athlete's needs_reauth or purge.
 */
function refusedApplication(error: StravaTokenInvalidError): StravaError {
  if (!error.errors.some((e) => e.resource === 'Application')) return error;
  return new StravaAppForbiddenError(`${error.message}; the athlete's refresh token is accepted, so the application is refused`, {
    status: error.status,
    endpoint: error.endpoint,
    errors: error.errors,
  });
}

export function createAthleteStrava({ client, vault, governor }: AthleteStravaDeps): AthleteStrava {
  /** One call through the governor: permit, token, call, usage fed back, the window closed on a 429. */
  async function send<T>(
    priority: Priority,
    signal: AbortSignal | undefined,
    token: () => Promise<string>,
    call: (token: string, options: CallOptions) => Promise<T>,
    feed: UsageFeed,
  ): Promise<T> {
    const permit = await governor.acquire(priority);
    if (!permit.ok) throw new RateBudgetExhaustedError(permit.waitMs, permit.reason);
    const accessToken = await token();
    const sentAt = governor.now();
    let usage: RateUsage | undefined;
    const options: CallOptions = { onRateUsage: (u) => (usage = u), ...(signal ? { signal } : {}) };
    try {
      return await call(accessToken, options);
    } catch (error) {
      if (error instanceof StravaRateLimitedError) {
        await governor.markExhausted(dayExhausted(usage) ? 'day' : 'window');
      }
      throw error;
    } finally {
      const fed = usage && feed(usage);
      if (fed) await governor.observe(fed, sentAt);
    }
  }

  /**
   * `send` with the athlete's token. A 401 alone does not tell a revoked athlete from a token Strava dropped or an
   * application it refuses (Strava answers a token it does not know with `Application//invalid` as well, recorded
   * in strava-ruby-client authorization_error.yml): the refresh token decides. Refused: NeedsReauthError (the
   * vault has marked the athlete needs_reauth). Accepted: the call is sent once more with the new token.
   */
  async function governed<T>(
    athleteId: number,
    priority: Priority,
    signal: AbortSignal | undefined,
    call: (token: string, options: CallOptions) => Promise<T>,
    feed: UsageFeed = everyPair,
  ): Promise<T> {
    let rejected: string | undefined;
    try {
      return await send(priority, signal, async () => (rejected = await vault.getAccessToken(athleteId)), call, feed);
    } catch (error) {
      if (!(error instanceof StravaTokenInvalidError) || rejected === undefined) throw error;
      const renewed = await vault.refreshRejected(athleteId, rejected);
      try {
        return await send(priority, signal, async () => renewed, call, feed);
      } catch (again) {
        throw again instanceof StravaTokenInvalidError ? refusedApplication(again) : again;
      }
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
      // Strava counts it toward the application's limits (its response carries the rate-limit headers), so it
      // takes a realtime permit like any call made for a person waiting.
      try {
        await governed(athleteId, 'realtime', undefined, (token, options) => client.deauthorize(token, options), readPairOnly);
      } catch (error) {
        // No tokens left, or Strava refuses them even after a refresh: nothing left to revoke.
        if (error instanceof NeedsReauthError || error instanceof StravaTokenInvalidError) return;
        throw error;
      }
    },
  };
}
