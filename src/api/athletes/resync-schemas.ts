import { z } from 'zod';
import { inInstantRange } from './schemas.js';

/** Zod schemas of POST /athletes/:id/resync (parsing and /openapi.json). */

const instant = z
  .union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()])
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : Date.parse(value);
    if (!inInstantRange(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must lie between the years 0001 and 9999' });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'ISO 8601 date-time or epoch seconds' });

export const resyncBodySchema = z
  .object({
    after: instant.meta({ description: 'Start of the window: activities that started after this instant' }),
    before: instant.meta({ description: 'End of the window: activities that started before this instant' }),
  })
  .strict()
  .refine((body) => body.after < body.before, { message: 'after must be earlier than before', path: ['before'] })
  .meta({ id: 'ResyncRequest' });

export const resyncAcceptedSchema = z
  .object({
    athleteId: z.number().int(),
    status: z.literal('accepted'),
    resyncId: z.string().meta({ description: 'Names this re-sync in the status (workflow.live.resync, lastResync)' }),
    after: z.iso.datetime(),
    before: z.iso.datetime(),
    estimatedRequests: z.number().int().meta({ description: 'Strava list requests the window is expected to take (background budget)' }),
    statusUrl: z.string().meta({ description: 'GET it for the progress (workflow.live.resync) and the result (workflow.live.lastResync)' }),
  })
  .meta({ id: 'ResyncAccepted' });
export type ResyncAccepted = z.infer<typeof resyncAcceptedSchema>;
