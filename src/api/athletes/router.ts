import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { getAthlete, markDisconnectRequested, type AthleteRow } from '../../db/repositories/athletes.js';
import { listActivityPage, type ActivityListRow } from '../../db/repositories/activity-pages.js';
import { SYNC_NOW_REFUSALS } from '../../domain/failure-types.js';
import { HttpError, parseInput } from '../http/errors.js';
import { athleteWorkflowId, type AthleteGateway, type SyncNowOutcome } from '../../temporal/athlete-gateway.js';
import { presentAthlete } from './present-athlete.js';
import type { ChangeStreams } from './change-stream.js';
import { eventStreamQuerySchema } from '../changes/schemas.js';
import {
  activityPageQuerySchema,
  athleteIdParamsSchema,
  syncIdParamsSchema,
  type AthleteStatusBody,
} from './schemas.js';

export interface AthletesRouterDeps {
  config: Config;
  sql: Sql;
  workflows: AthleteGateway;
  streams: ChangeStreams;
  logger: Logger;
}

/**
 * A cursor is [cursorKey, id] exactly as encodeCursor wrote it: the key in the one format listActivityPage emits
 * (UTC, microseconds) naming a real calendar instant PostgreSQL accepts, the id a positive safe integer.
 */
const CURSOR_KEY = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;
const cursorKeySchema = z.string().refine((text) => {
  const match = CURSOR_KEY.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  // A rolled-over date (Feb 30 -> Mar 1, 24:00 -> next day) is not one encodeCursor wrote.
  return year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
});
const cursorSchema = z.tuple([cursorKeySchema, z.number().int().positive()]);
const encodeCursor = (row: ActivityListRow): string => Buffer.from(JSON.stringify([row.cursorKey, row.id])).toString('base64url');
function decodeCursor(text: string): { startDate: string; id: number } {
  try {
    const [startDate, id] = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return { startDate, id };
  } catch {
    throw new HttpError(400, 'invalid_request', 'invalid cursor: pass the nextCursor of a previous page unchanged');
  }
}


/** Wraps a Temporal call: a server that cannot be reached is a 503 with a plain message (details to the log). */
async function viaTemporal<T>(logger: Logger, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    logger.error({ err: error }, `temporal call failed: ${what}`);
    throw new HttpError(503, 'temporal_unavailable', `the workflow service did not accept the request (${what}); try again shortly`);
  }
}

/** `/athletes/:id/*`: status, synced activities, focus, sync now, pause and resume, disconnect, change events. */
export function athletesRouter(deps: AthletesRouterDeps): Router {
  const { sql, workflows, streams, logger, config } = deps;
  const router = Router();

  async function loadAthlete(req: Request): Promise<AthleteRow> {
    const { id } = parseInput(athleteIdParamsSchema, req.params, 'path');
    const athlete = await getAthlete(sql, id);
    if (!athlete) throw new HttpError(404, 'athlete_not_found', `athlete ${id} is not connected to this application`);
    return athlete;
  }
  function requireActive(athlete: AthleteRow): void {
    if (athlete.state === 'revoked') {
      throw new HttpError(409, 'athlete_revoked', `athlete ${athlete.id} has disconnected; they must connect again through /auth/strava`);
    }
  }

  router.get('/:id', async (req, res) => {
    const athlete = await loadAthlete(req);
    const lookup = await workflows.status(athlete.id);
    const body: AthleteStatusBody = {
      ...presentAthlete(athlete),
      pausedBy: null,
      workflow: { id: athleteWorkflowId(athlete.id), status: lookup.kind },
      source: 'database',
    };
    if (lookup.kind === 'running') {
      body.source = 'workflow';
      body.state = lookup.status.state;
      body.pausedBy = lookup.status.pausedBy ?? null;
      body.lastSyncAt = lookup.status.lastSyncAt ?? body.lastSyncAt;
      body.workflow.live = { ...lookup.status };
    } else if (lookup.kind === 'closed') {
      body.workflow.closedStatus = lookup.workflowStatus;
    }
    res.json(body);
  });

  router.get('/:id/activities', async (req, res) => {
    const athlete = await loadAthlete(req);
    const query = parseInput(activityPageQuerySchema, req.query, 'query');
    const page = await listActivityPage(sql, athlete.id, {
      limit: query.limit,
      after: query.after,
      before: query.before,
      from: query.cursor ? decodeCursor(query.cursor) : undefined,
      includeRaw: query.include === 'raw',
    });
    const last = page.rows.at(-1);
    res.json({
      activities: page.rows.map(({ cursorKey: _cursor, startDate, syncedAt, ...row }) => ({
        ...row,
        startDate: startDate.toISOString(),
        syncedAt: syncedAt.toISOString(),
      })),
      nextCursor: page.more && last ? encodeCursor(last) : null,
    });
  });

  router.post('/:id/focus', async (req, res) => {
    const athlete = await loadAthlete(req);
    requireActive(athlete);
    await viaTemporal(logger, 'appFocus signal', () => workflows.focus(athlete.id));
    res.status(202).json({ athleteId: athlete.id, status: 'accepted', message: 'the workflow syncs if the last sync is stale' });
  });

  // Auto sync paused by an operator: webhook events are still recorded, no Strava call is made until resume.
  router.post('/:id/pause', async (req, res) => {
    const athlete = await loadAthlete(req);
    requireActive(athlete);
    await viaTemporal(logger, 'pause signal', () => workflows.pause(athlete.id));
    logger.info({ audit: 'athlete_paused', athleteId: athlete.id, by: req.ip }, 'athlete auto sync paused');
    res.status(202).json({
      athleteId: athlete.id,
      status: 'pausing',
      message: 'the workflow stops calling Strava; webhook events are kept for the resume',
    });
  });

  router.post('/:id/resume', async (req, res) => {
    const athlete = await loadAthlete(req);
    requireActive(athlete);
    await viaTemporal(logger, 'resume signal', () => workflows.resume(athlete.id));
    logger.info({ audit: 'athlete_resumed', athleteId: athlete.id, by: req.ip }, 'athlete auto sync resumed');
    res.status(202).json({
      athleteId: athlete.id,
      status: 'resuming',
      message: 'the workflow catches up with one sync and applies the events recorded meanwhile (unless the fleet is paused)',
    });
  });

  router.post('/:id/sync', async (req, res) => {
    const athlete = await loadAthlete(req);
    requireActive(athlete);
    const outcome = await viaTemporal(logger, 'syncNow update', () => workflows.syncNow(athlete.id, config.SYNC_NOW_WAIT));
    sendSyncOutcome(res, athlete.id, outcome);
  });

  router.get('/:id/sync/:syncId', async (req, res) => {
    const { id, syncId } = parseInput(syncIdParamsSchema, req.params, 'path');
    const athlete = await getAthlete(sql, id);
    if (!athlete) throw new HttpError(404, 'athlete_not_found', `athlete ${id} is not connected to this application`);
    const outcome = await viaTemporal(logger, 'syncNow outcome', () => workflows.syncOutcome(id, syncId, Math.min(config.SYNC_NOW_WAIT, 10_000)));
    if (!outcome) throw new HttpError(404, 'sync_not_found', 'no such sync request for this athlete');
    sendSyncOutcome(res, id, outcome);
  });

  router.delete('/:id', async (req, res) => {
    const athlete = await loadAthlete(req);
    if (athlete.state === 'revoked') {
      res.status(200).json({ athleteId: athlete.id, status: 'already_disconnected' });
      return;
    }
    // Recorded first: the workflow purges only while the request stands (a reconnect withdraws it).
    await markDisconnectRequested(sql, athlete.id);
    await viaTemporal(logger, 'disconnect signal', () => workflows.disconnect(athlete.id));
    res.status(202).json({
      athleteId: athlete.id,
      status: 'disconnecting',
      message: 'the workflow deauthorizes the athlete at Strava and purges their tokens and activities',
    });
  });

  router.get('/:id/events', async (req, res) => {
    const athlete = await loadAthlete(req);
    // EventSource sends Last-Event-ID when it reconnects; the query parameter is for clients that cannot.
    const header = req.get('last-event-id');
    const query = parseInput(eventStreamQuerySchema, header !== undefined ? { ...req.query, lastEventId: header } : req.query, 'query');
    await streams.open(athlete.id, res, query.lastEventId);
  });

  return router;
}

function sendSyncOutcome(res: import('express').Response, athleteId: number, outcome: SyncNowOutcome): void {
  switch (outcome.kind) {
    case 'done':
      res.status(200).json({ athleteId, status: 'done', result: outcome.result });
      return;
    case 'pending': {
      const outcomeUrl = `/athletes/${athleteId}/sync/${outcome.syncId}`;
      res.status(202).location(outcomeUrl).json({ athleteId, status: 'pending', syncId: outcome.syncId, outcomeUrl });
      return;
    }
    case 'failed':
      if (outcome.type === SYNC_NOW_REFUSALS.paused) throw new HttpError(409, 'sync_paused', `the sync did not run: ${outcome.message}`);
      throw new HttpError(409, 'sync_failed', `the sync did not run: ${outcome.message}`);
  }
}
