import { z } from 'zod';

/** Zod schemas of the OAuth connect routes (request parsing and /openapi.json). */

export const REQUESTED_SCOPE = 'read,activity:read_all';
/** Either grants activity data; without one the athlete has no activities to sync and gets no webhook events. */
export const ACTIVITY_SCOPES = ['activity:read', 'activity:read_all'] as const;

export const connectQuerySchema = z.object({
  return_to: z
    .string()
    .max(2000)
    .optional()
    .meta({ description: 'Where to send the browser afterwards: same origin as PUBLIC_URL or one of ALLOWED_RETURN_ORIGINS. Without it the callback answers JSON.' }),
});

export const callbackQuerySchema = z.object({
  state: z.string().min(1).max(2000),
  code: z.string().min(1).max(500).optional(),
  scope: z.string().max(500).optional().meta({ description: 'Scopes the athlete granted, comma separated' }),
  error: z.string().max(200).optional().meta({ description: 'access_denied when the athlete declined' }),
});

export const connectedSchema = z
  .object({
    athleteId: z.number().int(),
    status: z.literal('connected'),
    scopes: z.array(z.string()),
    workflowId: z.string(),
    reconnected: z.boolean().meta({ description: 'true when the athlete was waiting for re-authorization' }),
  })
  .meta({ id: 'Connected' });
