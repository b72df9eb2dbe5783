import { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { iso, presentAthlete } from '../athletes/present-athlete.js';
import { listAthletes } from '../../db/repositories/athletes.js';
import { countActivitiesByAthlete } from '../../db/repositories/activities.js';
import { loadAdminCounts } from '../../db/repositories/admin-overview.js';
import { athleteWorkflowId, type AthleteGateway } from '../../temporal/athlete-gateway.js';
import { HttpError, parseInput } from '../http/errors.js';
import type { ApiStrava } from '../strava-deps.js';
import type { SubscriptionHealth } from '../subscription/health.js';
import type { BatchSync } from './batch-sync.js';
import { adminAthletesQuerySchema, adminSyncBodySchema, syncBatchParamsSchema, type AdminAthlete } from './schemas.js';
import { syncHistoryRoutes } from './sync-history-routes.js';

export interface AdminRouterDeps {
  config: Config;
  sql: Sql;
  strava: ApiStrava;
  workflows: AthleteGateway;
  logger: Logger;
  /** POST /admin/sync runs here. */
  batches: BatchSync;
  /** The subscription card of /admin/overview. */
  subscription: Pick<SubscriptionHealth, 'view'>;
}

/** Live status queries of GET /admin/athletes?live=true: at most this many athletes, this many at once. */
const LIVE_LOOKUPS_MAX = 500;
const LIVE_LOOKUPS_AT_ONCE = 8;

/** The Temporal UI's workflow list for our namespace, or null when TEMPORAL_UI_URL is not set. */
export function temporalUiWorkflows(config: Config): string | null {
  if (!config.TEMPORAL_UI_URL) return null;
  return `${config.TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows`;
}

export function temporalUiLink(config: Config, athleteId: number): string | null {
  const list = temporalUiWorkflows(config);
  return list && `${list}/${encodeURIComponent(athleteWorkflowId(athleteId))}`;
}

/** Runs fn over items with at most `limit` in flight. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

/** `/admin/*` JSON routes (the admin key is checked by the app before this router). */
export function adminRouter(deps: AdminRouterDeps): Router {
  const { config, sql, strava, workflows, logger, batches } = deps;
  const router = Router();

  router.use(syncHistoryRoutes({ sql, config }));

  router.get('/athletes', async (req, res) => {
    const query = parseInput(adminAthletesQuerySchema, req.query, 'query');
    const [rows, counts] = await Promise.all([listAthletes(sql, query.state ? { state: query.state } : {}), countActivitiesByAthlete(sql)]);
    const athletes: AdminAthlete[] = rows.map((row) => ({
      ...presentAthlete(row),
      name: row.name,
      activityCount: counts.get(row.id) ?? 0,
      workflowId: athleteWorkflowId(row.id),
      temporalUiUrl: temporalUiLink(config, row.id),
    }));
    if (query.live) {
      const asked = athletes.filter((a) => a.state !== 'revoked').slice(0, LIVE_LOOKUPS_MAX);
      for (const athlete of athletes) Object.assign(athlete, { workflow: 'not_asked', live: null });
      await forEachLimited(asked, LIVE_LOOKUPS_AT_ONCE, async (athlete) => {
        const lookup = await workflows.status(athlete.athleteId);
        athlete.workflow = lookup.kind;
        if (lookup.kind === 'running') {
          const { state, nextBackfillAt, pendingEvents, rateLimitedUntil, pausedUntil, lastError, ...rest } = lookup.status;
          // Pause details the workflow may add (issue 12) pass through; counters stay out of the list.
          const { counters: _counters, import: _import, ...extra } = rest as typeof rest & Record<string, unknown>;
          athlete.live = { ...extra, state, nextBackfillAt, pendingEvents, rateLimitedUntil, pausedUntil, lastError };
        }
      });
    }
    res.json({ athletes });
  });

  router.get('/overview', async (_req, res) => {
    const [counts, governor, subscription] = await Promise.all([
      loadAdminCounts(sql),
      Promise.resolve()
        .then(() => strava.governor.snapshot())
        .catch((error: unknown) => {
          logger.warn({ err: error }, 'governor snapshot failed');
          return null;
        }),
      deps.subscription.view().catch((error: unknown) => {
        logger.warn({ err: error }, 'subscription health could not be read');
        return null;
      }),
    ]);
    res.json({
      ...counts,
      oldestPendingWebhookAt: iso(counts.oldestPendingWebhookAt),
      governor,
      temporalUiUrl: temporalUiWorkflows(config),
      subscription,
    });
  });

  /**
   * Batch sync: plans the batch (who is synced, who is skipped and why), records it, and answers 202 at once;
   * the syncs run in the background (src/api/admin/batch-sync.ts) and GET /admin/sync/:batchId sums them up.
   */
  router.post('/sync', async (req, res) => {
    const body = parseInput(adminSyncBodySchema, req.body ?? {}, 'body');
    const batchId = await batches.start(body);
    const view = await batches.view(batchId);
    res.status(202).location(`/admin/sync/${batchId}`).json(view);
  });

  router.get('/sync/:batchId', async (req, res) => {
    const { batchId } = parseInput(syncBatchParamsSchema, req.params, 'path');
    const view = await batches.view(batchId);
    if (!view) throw new HttpError(404, 'batch_not_found', 'no batch sync with this id (batches are kept 7 days)');
    res.json(view);
  });

  return router;
}
