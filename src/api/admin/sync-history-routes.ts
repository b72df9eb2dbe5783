import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { listSyncRuns, type SyncRunRow } from '../../db/repositories/sync-runs.js';
import { HttpError, parseInput } from '../http/errors.js';
import { loadHealth } from './health.js';
import { syncRunsQuerySchema, type SyncRunPage } from './sync-history-schemas.js';

export interface SyncHistoryRoutesDeps {
  config: Pick<Config, 'BACKFILL_LATE_AFTER'>;
  sql: Sql;
}

/** A cursor is [id] of the last run of the previous page, as encodeCursor wrote it. */
const cursorSchema = z.tuple([z.number().int().positive()]);
const encodeCursor = (row: SyncRunRow): string => Buffer.from(JSON.stringify([row.id])).toString('base64url');
function decodeCursor(text: string): number {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')))[0];
  } catch {
    throw new HttpError(400, 'invalid_request', 'invalid cursor: pass the nextCursor of a previous page unchanged');
  }
}

const iso = (date: Date | null) => (date === null ? null : date.toISOString());

/** GET /admin/health (the four health numbers) and GET /admin/sync-runs (the sync history); the admin key is checked before. */
export function syncHistoryRoutes(deps: SyncHistoryRoutesDeps): Router {
  const { sql, config } = deps;
  const router = Router();

  router.get('/health', async (_req, res) => {
    res.json(await loadHealth(sql, { lateAfterMs: config.BACKFILL_LATE_AFTER }));
  });

  router.get('/sync-runs', async (req, res) => {
    const query = parseInput(syncRunsQuerySchema, req.query, 'query');
    const page = await listSyncRuns(sql, {
      athleteId: query.athleteId,
      trigger: query.trigger,
      outcome: query.outcome,
      since: query.since,
      until: query.until,
      beforeId: query.cursor !== undefined ? decodeCursor(query.cursor) : undefined,
      limit: query.limit,
    });
    const last = page.rows.at(-1);
    const body: SyncRunPage = {
      runs: page.rows.map((row) => ({ ...row, startedAt: row.startedAt.toISOString(), dueAt: iso(row.dueAt) })),
      nextCursor: page.more && last ? encodeCursor(last) : null,
    };
    res.json(body);
  });

  return router;
}
