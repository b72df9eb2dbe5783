import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';
import { SYNC_NOW_MODES } from '../../domain/sync-types.js';
import { athleteRecordFields, syncStateSchema } from '../athletes/schemas.js';
import { subscriptionHealthViewSchema } from '../subscription/schemas.js';

/** Zod schemas of the admin routes (request parsing and /openapi.json). */

export const adminAthletesQuerySchema = z.object({
  state: syncStateSchema.optional().meta({ description: 'Only athletes in this sync state' }),
  live: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true')
    .meta({ description: "true: add each running workflow's status query answer (next backfill, last error; one query per athlete, the first 500)" }),
});

/** What the management page shows from an athlete's running workflow. */
export const adminAthleteLiveSchema = z
  .object({
    state: syncStateSchema,
    nextBackfillAt: z.string().nullable(),
    pendingEvents: z.number().int(),
    rateLimitedUntil: z.string().nullable(),
    pausedUntil: z.string().nullable(),
    lastError: z.object({ type: z.string(), message: z.string(), at: z.string() }).nullable(),
  })
  .catchall(z.unknown())
  .meta({ id: 'AdminAthleteLive' });

export const adminAthleteSchema = z
  .object({
    ...athleteRecordFields,
    name: z.string().nullable().meta({ description: 'As Strava gave it at connect (untrusted text)' }),
    activityCount: z.number().int(),
    workflowId: z.string(),
    temporalUiUrl: z.string().nullable(),
    workflow: z
      .enum(['running', 'closed', 'absent', 'unavailable', 'not_asked'])
      .optional()
      .meta({ description: 'With live=true: what the status query found' }),
    live: adminAthleteLiveSchema.nullable().optional().meta({ description: 'With live=true: the running workflow\'s status, else null' }),
  })
  .meta({ id: 'AdminAthlete' });
export type AdminAthlete = z.infer<typeof adminAthleteSchema>;

export const adminAthletesSchema = z.object({ athletes: z.array(adminAthleteSchema) }).meta({ id: 'AdminAthletes' });

/** Longest skipIfSyncedWithin: a month (longer would skip everyone for no reason anyone needs). */
const MAX_SKIP_WINDOW_MS = 31 * 86_400_000;

const durationInput = z
  .union([
    z.number().int().min(0).max(MAX_SKIP_WINDOW_MS).meta({ description: 'Milliseconds' }),
    z.string().max(32).transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms > MAX_SKIP_WINDOW_MS) {
        ctx.addIssue({ code: 'custom', message: `"${text.slice(0, 32)}" is not a duration up to 31d; use a number with ms, s, m, h or d, like 15m` });
        return z.NEVER;
      }
      return ms;
    }),
  ])
  .meta({ description: 'A duration: milliseconds, or text like "90s", "15m", "3h", "1d"' });

export const adminSyncBodySchema = z
  .object({
    athleteIds: z
      .union([z.array(z.number().int().positive()).min(1).max(10_000), z.literal('all')])
      .optional()
      .meta({ description: 'Athletes to sync, or "all" (also when omitted): every athlete not revoked' }),
    mode: z
      .enum(SYNC_NOW_MODES)
      .default('quick')
      .meta({ description: 'quick: the recent window (since the last sync, minus the overlap); full: the backfill window (since the last backfill, minus the overlap), counted as that backfill' }),
    skipIfSyncedWithin: durationInput.optional().meta({ description: 'Skip athletes whose last successful sync is more recent than this' }),
    limit: z.number().int().positive().max(100_000).optional().meta({ description: 'Sync at most this many athletes, the least recently synced first; the rest are skipped (over_limit)' }),
  })
  .strict()
  .meta({ id: 'AdminSyncRequest' });
export type AdminSyncBody = z.output<typeof adminSyncBodySchema>;

export const syncBatchParamsSchema = z.object({ batchId: z.uuid().meta({ description: 'The batchId POST /admin/sync answered' }) });

/** Why an athlete of a batch was not synced. */
export const SKIP_REASONS = ['not_connected', 'revoked', 'needs_reauth', 'paused', 'app_refused', 'synced_recently', 'over_limit'] as const;

export const syncBatchSchema = z
  .object({
    batchId: z.uuid(),
    statusUrl: z.string().meta({ description: 'Poll this for the aggregate (GET /admin/sync/{batchId})' }),
    createdAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
    done: z.boolean().meta({ description: 'Every athlete of the batch is skipped, succeeded or failed' }),
    mode: z.enum(SYNC_NOW_MODES),
    skipIfSyncedWithinMs: z.number().int().nullable(),
    limit: z.number().int().nullable(),
    athletes: z.number().int().meta({ description: 'Athletes in the batch (started + queued + skipped)' }),
    queued: z.number().int().meta({ description: 'Not requested yet (at most the concurrency run at once)' }),
    started: z.number().int().meta({ description: 'Sync requested: running + succeeded + failed' }),
    running: z.number().int(),
    succeeded: z.number().int(),
    skipped: z.object({ total: z.number().int(), byReason: z.record(z.string(), z.number().int()).meta({ description: `Reasons: ${SKIP_REASONS.join(', ')}` }) }),
    failed: z.object({
      total: z.number().int(),
      byType: z.record(z.string(), z.number().int()).meta({ description: "The workflow's failure type (RateLimited, NeedsReauth, SyncNowRejected, ...), NotAccepted (no worker took the request in time), Lost (Temporal no longer knows the sync), TimedOut" }),
    }),
    activities: z.object({ added: z.number().int(), updated: z.number().int(), deleted: z.number().int() }),
    tokensRefreshed: z.number().int(),
    requests: z.number().int().meta({ description: 'Strava requests the succeeded syncs used' }),
    failures: z.array(z.object({ athleteId: z.number().int(), type: z.string(), message: z.string().nullable() })).meta({ description: 'The first 50 failures' }),
  })
  .meta({ id: 'SyncBatch' });
export type SyncBatchView = z.infer<typeof syncBatchSchema>;

export const adminOverviewSchema = z
  .object({
    athletesByState: z.record(z.string(), z.number().int()),
    webhookEventsByOutcome: z.record(z.string(), z.number().int()),
    oldestPendingWebhookAt: z.iso.datetime().nullable(),
    governor: z.unknown().meta({ description: 'Rate governor usage and limits (governor.snapshot())' }),
    temporalUiUrl: z.string().nullable(),
    subscription: subscriptionHealthViewSchema.nullable().meta({ description: 'Null when it could not be read (see the log)' }),
  })
  .meta({ id: 'AdminOverview' });
