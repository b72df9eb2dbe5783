import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { getAthlete } from '../../db/repositories/athletes.js';
import { countInWindow } from '../../db/repositories/range-resyncs.js';
import { DAY_MS } from '../../domain/durations.js';
import { DEFAULT_SYNC_OPTIONS } from '../../domain/sync-options.js';
import type { AthleteGateway } from '../../temporal/athlete-gateway.js';
import { HttpError, parseInput } from '../http/errors.js';
import type { ApiStrava } from '../strava-deps.js';
import { resyncBodySchema, type ResyncAccepted } from './resync-schemas.js';
import { athleteIdParamsSchema } from './schemas.js';

/**
 * `POST /athletes/:id/resync { after, before }` (admin key, or a client token with `sync`): queues a range
 * re-sync in the athlete's workflow, which lists the window at background priority and repairs it. A window the
 * background budget cannot afford today is refused up front, with the earliest time it could run.
 */
export function resyncRouter(deps: { config: Config; sql: Sql; strava: ApiStrava; workflows: AthleteGateway; logger: Logger }): Router {
  const { config, sql, strava, workflows, logger } = deps;
  const router = Router();
  router.post('/:id/resync', async (req, res) => {
    const { id } = parseInput(athleteIdParamsSchema, req.params, 'path');
    const window = parseInput(resyncBodySchema, req.body ?? {}, 'body');
    const athlete = await getAthlete(sql, id);
    if (!athlete) throw new HttpError(404, 'athlete_not_found', `athlete ${id} is not connected to this application`);
    if (athlete.state === 'revoked') {
      throw new HttpError(409, 'athlete_revoked', `athlete ${id} has disconnected; they must connect again through /auth/strava`);
    }
    // Strava filters on whole seconds, both bounds exclusive: widen to whole seconds so nothing inside is missed.
    const after = Math.floor(window.after / 1000);
    const before = Math.ceil(window.before / 1000);

    // One list request per page of the window; what is stored there is the best estimate of what Strava holds.
    const stored = await countInWindow(sql, id, new Date(after * 1000), new Date(before * 1000));
    const estimatedRequests = Math.floor(stored / DEFAULT_SYNC_OPTIONS.importPageSize) + 1;
    const budget = await strava.governor.snapshot();
    const dailyBackground = Math.floor(budget.day.limit * config.RATE_BACKGROUND_SHARE);
    if (estimatedRequests > dailyBackground) {
      throw new HttpError(422, 'window_too_large',
        `the window holds about ${stored} activities (${estimatedRequests} Strava requests), more than a whole day's background budget (${dailyBackground}); split it into smaller windows`);
    }
    const remaining = Math.max(0, dailyBackground - budget.day.used);
    if (estimatedRequests > remaining) {
      const earliest = budget.dayStart + DAY_MS;
      const retryAfter = Math.max(1, Math.ceil((earliest - budget.at) / 1000));
      throw new HttpError(429, 'budget_exhausted',
        `the window needs about ${estimatedRequests} Strava requests and today's background budget has ${remaining} left; it can run from ${new Date(earliest).toISOString()} (Retry-After)`,
        { 'Retry-After': String(retryAfter) });
    }

    const resyncId = `resync-${randomUUID()}`;
    try {
      await workflows.resync(id, { id: resyncId, after, before });
    } catch (error) {
      logger.error({ err: error }, 'temporal call failed: resyncRange signal');
      throw new HttpError(503, 'temporal_unavailable', 'the workflow service did not accept the request (resyncRange signal); try again shortly');
    }
    const answer: ResyncAccepted = {
      athleteId: id,
      status: 'accepted',
      resyncId,
      after: new Date(after * 1000).toISOString(),
      before: new Date(before * 1000).toISOString(),
      estimatedRequests,
      statusUrl: `/athletes/${id}`,
    };
    res.status(202).location(answer.statusUrl).json(answer);
  });
  return router;
}
