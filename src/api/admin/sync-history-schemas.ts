import { z } from 'zod';
import { RUN_ACTIVITIES, RUN_OUTCOMES, SYNC_TRIGGERS } from '../../domain/sync-history.js';
import { instant } from '../athletes/schemas.js';

/** Zod schemas of GET /admin/health and GET /admin/sync-runs (request parsing, response types, /openapi.json). */

const count = z.number().int().nonnegative();
const rate = z.number().min(0).max(1).nullable().meta({ description: 'In 0..1; null when there is nothing to divide' });

const latencySummarySchema = z
  .object({
    count,
    p50: z.number().nullable(),
    p95: z.number().nullable(),
    p99: z.number().nullable(),
  })
  .nullable()
  .meta({ id: 'LatencySummary', description: 'Milliseconds; null when the window holds no sample' });

export const windowHealthSchema = z
  .object({
    webhookDelivery: z
      .object({ viaWebhook: count, repairs: count, rate })
      .meta({ description: 'Changes delivered by webhook / (those + changes only a backfill or sync found)' }),
    backfillCompletion: z
      .object({ completed: count, due: count, late: count, failed: count, rate })
      .meta({ description: 'Backfills completed by BACKFILL_LATE_AFTER past their due time / backfills whose deadline fell in the window' }),
    tokenRefresh: z
      .object({ attempted: count, succeeded: count, refused: count, networkFailed: count, rate })
      .meta({ description: 'Refreshes that succeeded / refreshes sent to Strava' }),
    latency: z.object({
      eventToRow: latencySummarySchema.meta({ description: "Strava's event_time to the row committed" }),
      receiptToRow: latencySummarySchema.meta({ description: 'Webhook receipt to the row committed' }),
    }),
  })
  .meta({ id: 'HealthWindow' });
export type WindowHealth = z.infer<typeof windowHealthSchema>;

export const adminHealthSchema = z
  .object({
    windows: z.object({ '1h': windowHealthSchema, '24h': windowHealthSchema }),
    latencyBuckets: z
      .array(z.object({ le: z.number().meta({ description: 'Upper bound (ms)' }), count }))
      .meta({ description: 'Event -> row latencies of the last 24 h per bucket (not cumulative): (previous le, le]; the last bucket also counts anything slower' }),
    generatedAt: z.iso.datetime(),
  })
  .meta({ id: 'AdminHealth' });
export type AdminHealth = z.infer<typeof adminHealthSchema>;

const athleteId = z
  .string()
  .regex(/^[1-9]\d{0,15}$/, 'athlete id must be a positive integer')
  .transform(Number)
  .refine(Number.isSafeInteger, 'athlete id is too large');

export const syncRunsQuerySchema = z
  .object({
    athleteId: athleteId.optional().meta({ description: 'Only this athlete' }),
    trigger: z.enum(SYNC_TRIGGERS).optional().meta({ description: 'Only runs with this trigger' }),
    outcome: z.enum(RUN_OUTCOMES).optional().meta({ description: 'Only runs with this outcome' }),
    since: instant.optional().meta({ description: 'Runs started at or after this instant (ISO 8601 or epoch seconds)' }),
    until: instant.optional().meta({ description: 'Runs started before this instant (ISO 8601 or epoch seconds)' }),
    limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size, 1 to 200 (default 50)' }),
    cursor: z.string().max(200).optional().meta({ description: 'nextCursor of the previous page' }),
  })
  .strict()
  .refine((query) => !query.since || !query.until || query.since < query.until, { message: 'since must be before until', path: ['since'] });

export const syncRunSchema = z
  .object({
    id: z.number().int(),
    athleteId: z.number().int(),
    activity: z.enum(RUN_ACTIVITIES),
    trigger: z.enum(SYNC_TRIGGERS),
    outcome: z.enum(RUN_OUTCOMES),
    failureType: z.string().nullable().meta({ description: 'Temporal failure type (RateLimited, NeedsReauth, ...) or error class; null when ok or skipped' }),
    attempt: z.number().int().meta({ description: 'Temporal attempt number of the activity' }),
    willRetry: z.boolean().meta({ description: 'Temporal runs the activity again after this failed attempt' }),
    requests: count,
    added: count,
    updated: count,
    deleted: count,
    changes: count.meta({ description: 'Changes of the kinds a webhook announces (added, name/type/privacy changed, removed) the run wrote' }),
    startedAt: z.iso.datetime(),
    durationMs: z.number().int(),
    dueAt: z.iso.datetime().nullable().meta({ description: 'Backfills: when it was due' }),
    eventToRowMs: z.number().int().nullable(),
    receiptToRowMs: z.number().int().nullable(),
  })
  .meta({ id: 'SyncRun' });

export const syncRunPageSchema = z
  .object({
    runs: z.array(syncRunSchema).meta({ description: 'Newest first' }),
    nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last page' }),
  })
  .meta({ id: 'SyncRunPage' });
export type SyncRunPage = z.infer<typeof syncRunPageSchema>;
