import { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { iso, presentAthlete } from '../athletes/present-athlete.js';
import { getAthlete, listAthletes, type AthleteRow } from '../../db/repositories/athletes.js';
import { loadAdminCounts } from '../../db/repositories/admin-overview.js';
import { athleteWorkflowId, type AthleteGateway } from '../../temporal/athlete-gateway.js';
import { parseInput } from '../http/errors.js';
import type { ApiStrava } from '../strava-deps.js';
import { adminAthletesQuerySchema, adminSyncBodySchema } from './schemas.js';
import { syncHistoryRoutes } from './sync-history-routes.js';

export interface AdminRouterDeps {
  config: Config;
  sql: Sql;
  strava: ApiStrava;
  workflows: AthleteGateway;
  logger: Logger;
  /** Sync requests in flight at once during POST /admin/sync. */
  syncConcurrency: number;
}

/** The Temporal UI's workflow list for our namespace, or null when TEMPORAL_UI_URL is not set. */
export function temporalUiWorkflows(config: Config): string | null {
  if (!config.TEMPORAL_UI_URL) return null;
  return `${config.TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows`;
}

export function temporalUiLink(config: Config, athleteId: number): string | null {
  const list = temporalUiWorkflows(config);
  return list && `${list}/${encodeURIComponent(athleteWorkflowId(athleteId))}`;
}

/** Runs fn over items with at most `limit` in flight, preserving nothing but completion. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

/** `/admin/*` JSON routes (the admin key is checked by the app before this router). */
export function adminRouter(deps: AdminRouterDeps): Router {
  const { config, sql, strava, workflows, logger } = deps;
  const router = Router();
  const present = (row: AthleteRow) => ({
    ...presentAthlete(row),
    workflowId: athleteWorkflowId(row.id),
    temporalUiUrl: temporalUiLink(config, row.id),
  });

  router.use(syncHistoryRoutes({ sql, config }));

  router.get('/athletes', async (req, res) => {
    const query = parseInput(adminAthletesQuerySchema, req.query, 'query');
    const rows = await listAthletes(sql, query.state ? { state: query.state } : {});
    res.json({ athletes: rows.map(present) });
  });

  router.get('/overview', async (_req, res) => {
    const [counts, governor] = await Promise.all([
      loadAdminCounts(sql),
      Promise.resolve()
        .then(() => strava.governor.snapshot())
        .catch((error: unknown) => {
          logger.warn({ err: error }, 'governor snapshot failed');
          return null;
        }),
    ]);
    res.json({
      ...counts,
      oldestPendingWebhookAt: iso(counts.oldestPendingWebhookAt),
      governor,
      temporalUiUrl: temporalUiWorkflows(config),
    });
  });

  /**
   * Sync everyone (or a list). Each athlete gets a syncNow Update through its own workflow, so the work runs
   * under the workflow's rules and the shared rate governor; at most syncConcurrency requests are open
   * towards Temporal at once, and the route returns once every workflow has accepted (not finished) its sync.
   */
  router.post('/sync', async (req, res) => {
    const body = parseInput(adminSyncBodySchema, req.body ?? {}, 'body');
    const skipped: { athleteId: number; reason: string }[] = [];
    let targets: number[];
    if (body.athleteIds) {
      targets = [];
      for (const id of [...new Set(body.athleteIds)]) {
        const athlete = await getAthlete(sql, id);
        if (!athlete) skipped.push({ athleteId: id, reason: 'not connected' });
        else if (athlete.state === 'revoked') skipped.push({ athleteId: id, reason: 'revoked' });
        else targets.push(id);
      }
    } else {
      targets = (await listAthletes(sql)).filter((row) => row.state !== 'revoked').map((row) => row.id);
    }
    const accepted: { athleteId: number; syncId: string; outcomeUrl: string }[] = [];
    const failed: { athleteId: number; message: string }[] = [];
    await forEachLimited(targets, deps.syncConcurrency, async (athleteId) => {
      try {
        const syncId = await workflows.requestSync(athleteId, 10_000);
        accepted.push({ athleteId, syncId, outcomeUrl: `/athletes/${athleteId}/sync/${syncId}` });
      } catch (error) {
        logger.warn({ err: error, athleteId }, 'admin sync request failed');
        failed.push({ athleteId, message: 'the workflow did not accept the sync request' });
      }
    });
    accepted.sort((a, b) => a.athleteId - b.athleteId);
    failed.sort((a, b) => a.athleteId - b.athleteId);
    res.status(202).json({ requested: targets.length + skipped.length, accepted, skipped, failed });
  });

  return router;
}
