import { z } from 'zod';

import { athleteSchema } from '../domain/strava-objects.js';

/**
 * zod schemas for the Strava responses about the API itself (errors, tokens, push subscriptions). Objects are
 * loose (passthrough): Strava adds fields over time. The athlete and activity objects, which the database stores
 * too, are in src/domain/strava-objects.ts.
 */

export const faultErrorSchema = z.looseObject({
  resource: z.string().nullish(),
  field: z.string().nullish(),
  code: z.string().nullish(),
});
export type FaultError = z.infer<typeof faultErrorSchema>;

export const faultSchema = z.looseObject({
  message: z.string().nullish(),
  errors: z.array(faultErrorSchema).nullish(),
});
export type Fault = z.infer<typeof faultSchema>;

/** POST /oauth/token, both grants. `athlete` only on authorization_code. */
export const tokenResponseSchema = z.looseObject({
  token_type: z.string().nullish(),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_at: z.number().int(),
  expires_in: z.number().int().nullish(),
  athlete: athleteSchema.nullish(),
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

export const deauthorizeResponseSchema = z.looseObject({ access_token: z.string().nullish() });

export const pushSubscriptionSchema = z.looseObject({
  id: z.number().int(),
  resource_state: z.number().int().nullish(),
  application_id: z.number().int().nullish(),
  callback_url: z.string(),
  created_at: z.string().nullish(),
  updated_at: z.string().nullish(),
});
export type PushSubscription = z.infer<typeof pushSubscriptionSchema>;
export const pushSubscriptionListSchema = z.array(pushSubscriptionSchema);
