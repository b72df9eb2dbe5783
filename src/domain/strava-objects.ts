import { z } from 'zod';

/**
 * The Strava athlete and activity objects as this service reads them (Strava's swagger: SummaryAthlete,
 * SummaryActivity, DetailedActivity). Loose objects: Strava adds fields over time, and the parsed value is the raw
 * JSON, so it can be stored as-is (activities.raw). Only the fields the service reads are declared; declared fields
 * are checked, everything else is kept. The client parses responses with them; the database stores what they describe.
 */

const nullableNumber = z.number().nullish();

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
