import type { Config } from '../config.js';
import type { Sql } from '../db/connection.js';
import { createAthleteStrava, type AthleteStrava } from './athlete-api.js';
import { createStravaClient, type StravaClient } from './client.js';
import { createRateGovernor, type RateGovernor } from './rate-governor.js';
import { recordTokenRefresh } from '../db/repositories/token-refreshes.js';
import { createTokenVault, type TokenRefreshAttempt, type TokenVault } from './token-vault.js';

export interface StravaServices {
  client: StravaClient;
  governor: RateGovernor;
  vault: TokenVault;
  athleteStrava: AthleteStrava;
}

export interface StravaServicesOverrides {
  /** Epoch ms clock for the governor, the vault and retry delays (tests: the emulator's clock). */
  now?: () => number;
  client?: StravaClient;
  governor?: RateGovernor;
  vault?: TokenVault;
  /** Also told of every token refresh (after the sync history recorded it): the worker counts them in its metrics. */
  onTokenRefresh?: (attempt: TokenRefreshAttempt) => void;
}

/** The Strava stack of one process (api or worker), built from the environment contract. */
export function createStravaServices(config: Config, sql: Sql, overrides: StravaServicesOverrides = {}): StravaServices {
  const now = overrides.now ?? Date.now;
  const client =
    overrides.client ??
    createStravaClient({
      apiUrl: config.STRAVA_API_URL,
      oauthUrl: config.STRAVA_OAUTH_URL,
      clientId: config.STRAVA_CLIENT_ID,
      clientSecret: config.STRAVA_CLIENT_SECRET,
      timeoutMs: config.STRAVA_REQUEST_TIMEOUT,
      now,
    });
  const governor =
    overrides.governor ??
    createRateGovernor({
      sql,
      backgroundShare: config.RATE_BACKGROUND_SHARE,
      interactiveShare: config.RATE_INTERACTIVE_SHARE,
      defaultLimits: { fifteenMinute: config.STRAVA_READ_LIMIT_15MIN, daily: config.STRAVA_READ_LIMIT_DAILY },
      now,
    });
  const vault =
    overrides.vault ??
    createTokenVault({
      sql,
      client,
      key: config.TOKEN_ENCRYPTION_KEY,
      keyId: config.tokenKeyId,
      oldKeys: config.TOKEN_DECRYPTION_KEYS,
      refreshMarginMs: config.TOKEN_REFRESH_MARGIN,
      now,
      // Every refresh, in whichever process it happens, lands in the sync history (token_refreshes).
      onRefresh: async (attempt) => {
        try {
          await recordTokenRefresh(sql, attempt);
        } finally {
          overrides.onTokenRefresh?.(attempt);
        }
      },
    });
  return { client, governor, vault, athleteStrava: createAthleteStrava({ client, vault, governor }) };
}
