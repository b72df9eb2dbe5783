import { z } from 'zod';

/**
 * zod schemas for the Strava responses this service uses. Objects are loose (passthrough): Strava adds fields
 * over time, and the parsed value is the raw JSON, so it can be stored as-is (activities.raw).
 * Only the fields the service reads are declared; declared fields are checked, everything else is kept.
 */

const nullableNumber = z.number().nullish();

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

export const athleteSchema = z.looseObject({
  id: z.number().int(),
  resource_state: z.number().int().nullish(),
  username: z.string().nullish(),
  firstname: z.string().nullish(),
  lastname: z.string().nullish(),
  profile: z.string().nullish(),
  profile_medium: z.string().nullish(),
});
export type StravaAthlete = z.infer<typeof athleteSchema>;

export const visibilitySchema = z.string(); // "everyone" | "followers_only" | "only_me"; new values must not break parsing

export const summaryActivitySchema = z.looseObject({
  id: z.number().int(),
  resource_state: z.number().int().nullish(),
  athlete: z.looseObject({ id: z.number().int() }),
  name: z.string(),
  sport_type: z.string(),
  type: z.string().nullish(),
  start_date: z.string(),
  start_date_local: z.string().nullish(),
  timezone: z.string().nullish(),
  utc_offset: nullableNumber,
  distance: z.number(),
  moving_time: z.number(),
  elapsed_time: z.number(),
  total_elevation_gain: z.number(),
  elev_high: nullableNumber,
  elev_low: nullableNumber,
  external_id: z.string().nullish(),
  upload_id: nullableNumber,
  private: z.boolean(),
  visibility: visibilitySchema.nullish(),
  trainer: z.boolean().nullish(),
  commute: z.boolean().nullish(),
  manual: z.boolean().nullish(),
  flagged: z.boolean().nullish(),
  workout_type: nullableNumber,
  average_speed: nullableNumber,
  max_speed: nullableNumber,
  gear_id: z.string().nullish(),
  map: z.looseObject({ id: z.string().nullish(), summary_polyline: z.string().nullish(), polyline: z.string().nullish() }).nullish(),
});
export type SummaryActivity = z.infer<typeof summaryActivitySchema>;

export const detailedActivitySchema = summaryActivitySchema.extend({
  description: z.string().nullish(),
  calories: nullableNumber,
  device_name: z.string().nullish(),
  embed_token: z.string().nullish(),
});
export type DetailedActivity = z.infer<typeof detailedActivitySchema>;

export const summaryActivityListSchema = z.array(summaryActivitySchema);

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
