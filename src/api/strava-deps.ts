import type { Db } from '../db/connection.js';
import type { RateSnapshot } from '../strava/rate-governor.js';
import type { PushSubscriptionApi } from './subscription/service.js';

/**
 * The part of the Strava services (src/strava/services.ts) the API uses. Declared structurally so the API
 * depends on these few calls only; the object createStravaServices returns satisfies it.
 */
export interface ApiStrava {
  /** Push subscription calls: /admin/subscription (src/api/subscription). */
  client: PushSubscriptionApi & {
    authorizeUrl(options: { redirectUri: string; scope: string; state: string; approvalPrompt?: 'auto' | 'force' }): string;
    exchangeCode(code: string): Promise<{ tokens: { accessToken: string; refreshToken: string; expiresAt: Date }; athlete: { id: number; firstname?: string | null | undefined; lastname?: string | null | undefined } }>;
  };
  vault: {
    store(athleteId: number, tokens: { accessToken: string; refreshToken: string; expiresAt: Date }, tx?: Db): Promise<unknown>;
  };
  governor: {
    snapshot(): Promise<RateSnapshot>;
  };
}
