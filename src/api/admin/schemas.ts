import { z } from 'zod';
import { athleteRecordFields, syncStateSchema } from '../athletes/schemas.js';

/** Zod schemas of the admin routes (request parsing and /openapi.json). */

export const adminAthletesQuerySchema = z.object({
  state: syncStateSchema.optional().meta({ description: 'Only athletes in this sync state' }),
});

export const adminAthleteSchema = z
  .object({
    ...athleteRecordFields,
    workflowId: z.string(),
    temporalUiUrl: z.string().nullable(),
  })
  .meta({ id: 'AdminAthlete' });

export const adminAthletesSchema = z.object({ athletes: z.array(adminAthleteSchema) }).meta({ id: 'AdminAthletes' });

export const adminSyncBodySchema = z
  .object({
    athleteIds: z
      .array(z.number().int().positive())
      .min(1)
      .max(10_000)
      .optional()
      .meta({ description: 'Athletes to sync; omit to sync every connected (not revoked) athlete' }),
  })
  .strict()
  .meta({ id: 'AdminSyncRequest' });

export const adminSyncResultSchema = z
  .object({
    requested: z.number().int(),
    accepted: z.array(z.object({ athleteId: z.number().int(), syncId: z.string(), outcomeUrl: z.string() })),
    skipped: z.array(z.object({ athleteId: z.number().int(), reason: z.string() })),
    failed: z.array(z.object({ athleteId: z.number().int(), message: z.string() })),
  })
  .meta({ id: 'AdminSyncResult' });

export const adminOverviewSchema = z
  .object({
    athletesByState: z.record(z.string(), z.number().int()),
    webhookEventsByOutcome: z.record(z.string(), z.number().int()),
    oldestPendingWebhookAt: z.iso.datetime().nullable(),
    governor: z.unknown().meta({ description: 'Rate governor usage and limits (governor.snapshot())' }),
    temporalUiUrl: z.string().nullable(),
  })
  .meta({ id: 'AdminOverview' });
