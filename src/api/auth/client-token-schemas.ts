import { z } from 'zod';

/** Zod schemas of the client token route (POST /athletes/:id/client-tokens): parsing and /openapi.json alike. */

/**
 * What a client token may do on its athlete's routes: read (status, activities, sync outcomes), focus (app
 * opened), sync (sync now, range re-sync), events (the change stream).
 */
export const CLIENT_ABILITIES = ['read', 'focus', 'sync', 'events'] as const;
export type ClientAbility = (typeof CLIENT_ABILITIES)[number];

/** Lifetime of a token minted without ttlSeconds. */
export const DEFAULT_CLIENT_TOKEN_TTL_SECONDS = 3_600;

export const clientAbilitySchema = z.enum(CLIENT_ABILITIES).meta({ id: 'ClientAbility' });

export const clientTokenBodySchema = z
  .object({
    abilities: z.array(clientAbilitySchema).min(1).max(CLIENT_ABILITIES.length * 2).meta({ description: 'What the token may do on this athlete\'s routes' }),
    ttlSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .optional()
      .meta({ description: `Lifetime in seconds (default ${DEFAULT_CLIENT_TOKEN_TTL_SECONDS}); at most CLIENT_TOKEN_MAX_TTL` }),
  })
  .strict()
  .meta({ id: 'ClientTokenRequest' });
export type ClientTokenBody = z.infer<typeof clientTokenBodySchema>;

export const clientTokenSchema = z
  .object({
    token: z.string().meta({ description: 'Send as Authorization: Bearer <token> (or ?access_token= on the event stream)' }),
    expiresAt: z.iso.datetime(),
    athleteId: z.number().int(),
    abilities: z.array(clientAbilitySchema),
  })
  .meta({ id: 'ClientToken' });
export type ClientTokenResponse = z.infer<typeof clientTokenSchema>;
