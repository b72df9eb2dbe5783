import { Router } from 'express';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { getAthlete } from '../../db/repositories/athletes.js';
import { clientTokenBodySchema, DEFAULT_CLIENT_TOKEN_TTL_SECONDS, type ClientTokenResponse } from '../auth/client-token-schemas.js';
import type { ClientTokens } from '../auth/client-tokens.js';
import { HttpError, parseInput } from '../http/errors.js';
import { athleteIdParamsSchema } from './schemas.js';

/**
 * `POST /athletes/:id/client-tokens` (admin key only: athlete-access.ts lists no client route for it): the app's
 * own backend mints a short-lived token for one athlete's device.
 */
export function clientTokensRouter(deps: { config: Config; sql: Sql; tokens: ClientTokens }): Router {
  const router = Router();
  router.post('/:id/client-tokens', async (req, res) => {
    const { id } = parseInput(athleteIdParamsSchema, req.params, 'path');
    const body = parseInput(clientTokenBodySchema, req.body ?? {}, 'body');
    const ttlSeconds = body.ttlSeconds ?? Math.min(DEFAULT_CLIENT_TOKEN_TTL_SECONDS, deps.config.CLIENT_TOKEN_MAX_TTL / 1000);
    const maxSeconds = Math.floor(deps.config.CLIENT_TOKEN_MAX_TTL / 1000);
    if (ttlSeconds > maxSeconds) {
      throw new HttpError(400, 'invalid_request', `invalid body: ttlSeconds: must be at most ${maxSeconds} (CLIENT_TOKEN_MAX_TTL)`);
    }
    const athlete = await getAthlete(deps.sql, id);
    if (!athlete) throw new HttpError(404, 'athlete_not_found', `athlete ${id} is not connected to this application`);
    if (athlete.state === 'revoked') {
      throw new HttpError(409, 'athlete_revoked', `athlete ${id} has disconnected; they must connect again through /auth/strava`);
    }
    const abilities = [...new Set(body.abilities)];
    const minted = await deps.tokens.mint(id, abilities, ttlSeconds);
    const answer: ClientTokenResponse = { token: minted.token, expiresAt: minted.expiresAt.toISOString(), athleteId: id, abilities };
    res.status(201).set('Cache-Control', 'no-store').json(answer);
  });
  return router;
}
