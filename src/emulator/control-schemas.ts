/** Request bodies of the control API (/_emulator/*), shared by the server (parsing) and the client (types). */
import { z } from 'zod';
import { rateLimitsSchema, refreshRotationSchema } from './options.js';

const visibilitySchema = z.enum(['everyone', 'followers_only', 'only_me']);

export const createAthleteSchema = z.object({
  id: z.number().int().positive().optional(),
  /** Generated history size. */
  activities: z.number().int().min(0).max(1_000_000).optional(),
  historyYears: z.number().positive().optional(),
  firstname: z.string().optional(),
  lastname: z.string().optional(),
  username: z.string().optional(),
  sex: z.enum(['M', 'F']).optional(),
  premium: z.boolean().optional(),
});
export type CreateAthleteInput = z.input<typeof createAthleteSchema>;

export const activityFieldsSchema = z.object({
  name: z.string().optional(),
  sport_type: z.string().optional(),
  start_date: z.string().optional(),
  distance: z.number().min(0).optional(),
  moving_time: z.number().int().min(0).optional(),
  elapsed_time: z.number().int().min(0).optional(),
  total_elevation_gain: z.number().min(0).optional(),
  description: z.string().nullable().optional(),
  private: z.boolean().optional(),
  visibility: visibilitySchema.optional(),
  trainer: z.boolean().optional(),
  commute: z.boolean().optional(),
});
export type ActivityFieldsInput = z.input<typeof activityFieldsSchema>;

export const createActivitySchema = activityFieldsSchema.extend({
  /** GET /activities/{id} answers 404 (and lists skip it) for this long after the create: "still processing". */
  processingMs: z.number().int().min(0).optional(),
});

export const updateActivitySchema = z.object({
  name: z.string().optional(),
  sport_type: z.string().optional(),
  description: z.string().nullable().optional(),
  private: z.boolean().optional(),
  visibility: visibilitySchema.optional(),
});
export type UpdateActivityInput = z.input<typeof updateActivitySchema>;

export const advanceClockSchema = z.object({ ms: z.number() });
export const setClockSchema = z.object({ epochMs: z.number() });
export const rotationBodySchema = z.object({ rotation: refreshRotationSchema });
export const rateLimitsPatchSchema = rateLimitsSchema.partial();

/** PUT /_emulator/athletes/{id}/consent: the scopes the athlete leaves ticked (comma separated), null = all. */
export const consentSchema = z.object({ grantScope: z.string().nullable() });
export type ConsentInput = z.input<typeof consentSchema>;
