import { z } from 'zod';
import { PAUSE_CAUSES } from '../../domain/fleet-settings.js';
import { SYNC_STATES } from '../../domain/sync-types.js';
import { resyncOutcomeSchema, resyncProgressSchema } from './resync-status-schemas.js';

/** Zod schemas of the athlete routes: used to parse requests and, unchanged, to generate /openapi.json. */

export const athleteIdParamsSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, 'athlete id must be a positive integer')
    .transform(Number)
    .refine(Number.isSafeInteger, 'athlete id is too large')
    .meta({ description: 'Strava athlete id', example: '134815' }),
});

export const syncStateSchema = z.enum(SYNC_STATES).meta({ id: 'SyncState' });

export const syncResultSchema = z
  .object({
    added: z.number().int(),
    updated: z.number().int(),
    deleted: z.number().int(),
    requests: z.number().int(),
    durationMs: z.number(),
    tokensRefreshed: z.number().int().optional().meta({ description: 'Access tokens refreshed on the way' }),
    mode: z.enum(['quick', 'full']).optional().meta({ description: 'The window listed (POST /admin/sync may ask for full)' }),
  })
  .meta({ id: 'SyncResult' });

/** The athlete row as every route shows it (status, admin list). */
export const athleteRecordFields = {
  athleteId: z.number().int(),
  state: syncStateSchema,
  scopes: z.array(z.string()),
  connectedAt: z.iso.datetime(),
  revokedAt: z.iso.datetime().nullable(),
  lastSyncAt: z.iso.datetime().nullable(),
  lastBackfillAt: z.iso.datetime().nullable(),
};

export const athleteStatusSchema = z
  .object({
    ...athleteRecordFields,
    pausedBy: z
      .enum(PAUSE_CAUSES)
      .nullable()
      .meta({
        description:
          'Why auto sync is paused (state paused): operator (POST /athletes/:id/pause), fleet (settings paused), strava (Strava refuses the app, 403 back-off); null when not paused or when the workflow is not running',
      }),
    workflow: z.object({
      id: z.string().meta({ description: 'Temporal workflow id (athlete-<id>)' }),
      status: z
        .enum(['running', 'closed', 'absent', 'unavailable'])
        .meta({ description: 'running: state and counters come from the live status query; otherwise from the database' }),
      closedStatus: z.string().optional().meta({ description: 'Temporal status of a closed workflow (COMPLETED, TERMINATED, ...)' }),
      live: z
        .object({
          state: syncStateSchema,
          lastSyncAt: z.string().nullable(),
          resync: resyncProgressSchema.nullable().optional().meta({ description: 'The range re-sync in progress' }),
          queuedResyncs: z.number().int().optional(),
          lastResync: resyncOutcomeSchema.nullable().optional().meta({ description: 'The last range re-sync finished' }),
        })
        .catchall(z.unknown())
        .optional()
        .meta({ description: 'The workflow status query answer' }),
    }),
    source: z.enum(['workflow', 'database']),
  })
  .meta({ id: 'AthleteStatus' });
export type AthleteStatusBody = z.infer<typeof athleteStatusSchema>;

/**
 * The instants PostgreSQL's timestamptz and JS Date both take, written as a four-digit year: 0001 to 9999.
 * (PostgreSQL refuses year 0000; a Date past 9999 serialises as "+033658-..." which PostgreSQL cannot read.)
 */
export const MIN_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z');
export const MAX_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z');
export const inInstantRange = (ms: number): boolean => ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS;

/** `after`/`before`: an ISO 8601 instant or epoch seconds (the way Strava's own list endpoint takes them). */
export const instant = z
  .string()
  .transform((text, ctx) => {
    const date = /^\d{1,12}$/.test(text) ? new Date(Number(text) * 1000) : new Date(text);
    if (Number.isNaN(date.getTime()) || !/^\d{1,12}$|^\d{4}-\d{2}-\d{2}/.test(text)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date-time or epoch seconds' });
      return z.NEVER;
    }
    if (!inInstantRange(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'must lie between the years 0001 and 9999' });
      return z.NEVER;
    }
    return date;
  })
  .meta({ description: 'ISO 8601 date-time or epoch seconds, years 0001 to 9999' });

export const activityPageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size, 1 to 200 (default 50)' }),
  cursor: z.string().max(200).optional().meta({ description: 'nextCursor of the previous page' }),
  after: instant.optional().meta({ description: 'Only activities that started after this instant' }),
  before: instant.optional().meta({ description: 'Only activities that started before this instant' }),
  include: z.enum(['raw']).optional().meta({ description: 'raw: add the full Strava JSON of each activity' }),
});

export const activitySchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    sportType: z.string(),
    startDate: z.iso.datetime(),
    startDateLocal: z.string().nullable(),
    timezone: z.string().nullable(),
    distance: z.number(),
    movingTime: z.number().int(),
    elapsedTime: z.number().int(),
    totalElevationGain: z.number(),
    private: z.boolean(),
    visibility: z.string().nullable(),
    detailLevel: z.number().int().meta({ description: '2 = summary from a list page, 3 = detailed activity' }),
    syncedAt: z.iso.datetime(),
    raw: z.record(z.string(), z.unknown()).optional().meta({ description: 'Strava JSON (include=raw)' }),
  })
  .meta({ id: 'Activity' });

export const activityPageSchema = z
  .object({
    activities: z.array(activitySchema).meta({ description: 'Newest first' }),
    nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last page' }),
  })
  .meta({ id: 'ActivityPage' });

export const acceptedSchema = z
  .object({ athleteId: z.number().int(), status: z.string(), message: z.string().optional() })
  .meta({ id: 'Accepted' });

export const syncPendingSchema = z
  .object({
    athleteId: z.number().int(),
    status: z.literal('pending'),
    syncId: z.string(),
    outcomeUrl: z.string().meta({ description: 'GET it (with the admin key) for the result' }),
  })
  .meta({ id: 'SyncPending' });

export const syncDoneSchema = z
  .object({ athleteId: z.number().int(), status: z.literal('done'), result: syncResultSchema })
  .meta({ id: 'SyncDone' });

export const syncIdParamsSchema = athleteIdParamsSchema.extend({
  syncId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,300}$/, 'sync id must be the syncId of an earlier sync request')
    .meta({ description: 'syncId from an earlier 202 answer (opaque)' }),
});
