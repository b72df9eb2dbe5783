import { randomBytes } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { rateLimit } from 'express-rate-limit';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Sql } from '../db/connection.js';
import { adminRouter } from './admin/router.js';
import { renderAdminPage } from './admin/page.js';
import { syncHistoryOpenApi } from './admin/sync-history-openapi.js';
import { createSyncHistoryRetention, type SyncHistoryRetention } from './admin/sync-history-retention.js';
import { ChangeStreams } from './athletes/change-stream.js';
import { athletesRouter } from './athletes/router.js';
import { createChangeLogRetention, type ChangeLogRetention } from './changes/change-log-retention.js';
import { changesRouter } from './changes/router.js';
import { requireAdminKey, requireMetricsToken } from './auth/admin-key.js';
import { athleteAccess } from './auth/athlete-access.js';
import { clientCors } from './auth/client-cors.js';
import { createClientTokens } from './auth/client-tokens.js';
import { clientTokensRouter } from './athletes/client-tokens-router.js';
import { resyncRouter } from './athletes/resync-router.js';
import { oauthRouter } from './auth/oauth-router.js';
import { errorBody, errorHandler, notFoundHandler } from './http/errors.js';
import { registerGovernorMetrics } from './http/governor-metrics.js';
import { checkReadiness } from './http/health.js';
import { jsonBody } from './http/json-body.js';
import { createHttpMetrics } from './http/metrics.js';
import { requestLog } from './http/request-log.js';
import { buildOpenApiDocument } from './openapi/document.js';
import { AthleteGateway } from '../temporal/athlete-gateway.js';
import type { ApiStrava } from './strava-deps.js';
import { createWebhookIngestion, registerWebhookMetrics, type InboxRelay, type InboxRetention, type WebhookIngestionDeps } from './webhooks/index.js';
import {
  createSubscriptionHealth,
  createSubscriptionRouter,
  createSubscriptionService,
  LOOK_MAX_AGE_MS,
  registerSubscriptionMetrics,
  subscriptionOpenApi,
  type SubscriptionHealth,
} from './subscription/index.js';
import { createBatchSync, type BatchSync } from './admin/batch-sync.js';
import { createSettingsSync, SETTINGS_PATH, settingsOpenApi, settingsRouter, type SettingsSync } from './settings/index.js';

export interface RateLimitSetting {
  windowMs: number;
  limit: number;
}

export interface AppOptions {
  /** Lifetime of an OAuth state (how long the athlete may take on Strava's consent page). */
  oauthStateTtlMs: number;
  /** Comment line sent on every SSE stream this often. */
  sseHeartbeatMs: number;
  /** POST /admin/sync: athletes whose sync is open at once. */
  adminSyncConcurrency: number;
  /** A batch runner renews its claim this often; a batch unrenewed for six times as long is adopted. */
  adminSyncHeartbeatMs: number;
  /** The subscription card accepts a stored answer from Strava up to this old. */
  subscriptionLookMaxAgeMs: number;
  /** Time between two settings passes (a running workflow a settings change missed gets it within this). */
  settingsPassMs: number;
  /**
   * Per client IP. Webhooks: Strava sends at most a few events per second per athlete burst; a flood is
   * thousands. OAuth: a person clicks connect a handful of times.
   */
  rateLimits: { webhooks: RateLimitSetting; oauth: RateLimitSetting };
}

export const DEFAULT_APP_OPTIONS: AppOptions = {
  oauthStateTtlMs: 10 * 60_000,
  sseHeartbeatMs: 15_000,
  adminSyncConcurrency: 8,
  adminSyncHeartbeatMs: 5_000,
  subscriptionLookMaxAgeMs: LOOK_MAX_AGE_MS,
  settingsPassMs: 30_000,
  rateLimits: {
    webhooks: { windowMs: 10_000, limit: 5_000 },
    oauth: { windowMs: 60_000, limit: 60 },
  },
};

export interface AppDeps {
  config: Config;
  sql: Sql;
  /** The process's one Temporal Client. */
  temporal: Client;
  strava: ApiStrava;
  logger: Logger;
  /** Epoch ms; tests move it to expire OAuth states. */
  now?: () => number;
  options?: Partial<Omit<AppOptions, 'rateLimits'>> & { rateLimits?: Partial<AppOptions['rateLimits']> };
  version?: string;
  /** Webhook inbox relay tuning (tests shorten its backoff). */
  webhookRelay?: WebhookIngestionDeps['relay'];
  /** Group commit of webhook inbox rows (on by default; the benchmark compares settings). */
  webhookGroupCommit?: WebhookIngestionDeps['groupCommit'];
}

export type ApiApp = Express & {
  /** The webhook inbox relay: the server starts it with the listener and stops it on shutdown. */
  relay: InboxRelay;
  /** Prunes handled inbox rows past WEBHOOK_INBOX_RETENTION; started and stopped with the relay. */
  inboxRetention: InboxRetention;
  /** Prunes the sync history past SYNC_HISTORY_RETENTION; started and stopped with the relay. */
  syncHistoryRetention: SyncHistoryRetention;
  /** Open SSE streams (closed by the server on shutdown). */
  streams: ChangeStreams;
  /** The periodic subscription check; started and stopped with the relay. */
  subscriptionHealth: SubscriptionHealth;
  /** Batch syncs running in this process (stopped on shutdown; another instance adopts what is left). */
  batches: BatchSync;
  /** Prunes the change log past CHANGE_LOG_RETENTION; started and stopped with the relay. */
  changeLogRetention: ChangeLogRetention;
  /** The settings and their passes to running workflows; started and stopped with the server. (Not `settings`: Express keeps its own there.) */
  settingsSync: SettingsSync;
};

function limiter(name: string, setting: RateLimitSetting): RequestHandler {
  return rateLimit({
    windowMs: setting.windowMs,
    limit: setting.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) => {
      res.status(429).json(errorBody('rate_limited', `too many ${name} requests from this address; slow down`));
    },
  });
}

/** The HTTP API: every route, the middleware around them, metrics and the OpenAPI document. */
export function createApp(deps: AppDeps): ApiApp {
  const { config, sql, temporal, strava, logger } = deps;
  const options: AppOptions = {
    ...DEFAULT_APP_OPTIONS,
    ...deps.options,
    rateLimits: { ...DEFAULT_APP_OPTIONS.rateLimits, ...deps.options?.rateLimits },
  };
  const now = deps.now ?? Date.now;
  // The one gateway to the athlete workflows, over the process's one Temporal Client; it starts new workflows
  // with the settings as last loaded.
  let settingsSync: SettingsSync | undefined;
  const workflows = new AthleteGateway(temporal, config, () => settingsSync?.current());
  settingsSync = createSettingsSync({ sql, workflows, config, logger, intervalMs: options.settingsPassMs });
  const streams = new ChangeStreams(sql, logger, options.sseHeartbeatMs);
  const webhooks = createWebhookIngestion({
    config, sql, workflows, logger,
    ...(deps.webhookRelay ? { relay: deps.webhookRelay } : {}),
    ...(deps.webhookGroupCommit !== undefined ? { groupCommit: deps.webhookGroupCommit } : {}),
  });
  const metrics = createHttpMetrics();
  registerWebhookMetrics(metrics.registry, sql);
  const subscriptionHealth = createSubscriptionHealth({ sql, strava: strava.client, config, logger, now, lookMaxAgeMs: options.subscriptionLookMaxAgeMs });
  registerSubscriptionMetrics(metrics.registry, sql, subscriptionHealth);
  const batches = createBatchSync({ sql, workflows, logger, concurrency: options.adminSyncConcurrency, heartbeatMs: options.adminSyncHeartbeatMs });
  registerGovernorMetrics(metrics.registry, () => strava.governor.snapshot());
  const openapi = buildOpenApiDocument({ publicUrl: config.PUBLIC_URL, version: deps.version ?? '0.1.0', contributions: [subscriptionOpenApi, syncHistoryOpenApi, settingsOpenApi] });
  const adminKey = requireAdminKey(config.ADMIN_API_KEY);
  const clientTokens = createClientTokens({ keys: config.CLIENT_TOKEN_KEYS, now });

  const app = express() as ApiApp;
  app.disable('x-powered-by');
  // Which hops may set X-Forwarded-For (TRUST_PROXY), so rate limits see client addresses.
  app.set('trust proxy', config.TRUST_PROXY);
  app.use(metrics.middleware);
  app.use(requestLog(logger, config.STRAVA_WEBHOOK_PATH_TOKEN ? [config.STRAVA_WEBHOOK_PATH_TOKEN] : []));
  app.use(helmet());

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const readiness = await checkReadiness(sql, workflows);
    res.status(readiness.status === 'ready' ? 200 : 503).json(readiness);
  });
  app.get('/metrics', requireMetricsToken(config.ADMIN_API_KEY, config.METRICS_TOKEN), async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  // Public routes: rate limited per client address; the webhook router parses its own (16 KB) bodies.
  app.use('/webhooks', limiter('webhook', options.rateLimits.webhooks));
  app.use(webhooks.router);
  app.use('/auth', limiter('OAuth', options.rateLimits.oauth));
  app.use(oauthRouter({ config, sql, strava, workflows, logger, now, stateTtlMs: options.oauthStateTtlMs }));

  // The admin key, or a client token on the routes athlete-access.ts lists for it.
  app.use(
    '/athletes',
    clientCors(config.CLIENT_ORIGINS),
    athleteAccess({ adminApiKey: config.ADMIN_API_KEY, tokens: clientTokens }),
    ...jsonBody('16kb'),
    athletesRouter({ config, sql, workflows, streams, logger }),
    clientTokensRouter({ config, sql, tokens: clientTokens }),
    resyncRouter({ config, sql, strava, workflows, logger }),
  );

  // The management page itself is public (it holds no data); everything it loads needs the key.
  app.get('/admin', (_req, res) => {
    const nonce = randomBytes(16).toString('base64');
    res
      .set('Content-Security-Policy', `default-src 'self'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`)
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(renderAdminPage(nonce));
  });
  app.use('/changes', adminKey, changesRouter({ sql, streams }));
  app.use(
    createSubscriptionRouter({
      service: createSubscriptionService({ strava: strava.client, sql, config }),
      adminApiKey: config.ADMIN_API_KEY,
      adminAuth: adminKey,
      onChange: () => subscriptionHealth.expire(),
    }),
  );
  app.use(SETTINGS_PATH, adminKey, ...jsonBody('16kb'), settingsRouter(settingsSync));
  app.use('/admin', adminKey, ...jsonBody('256kb'), adminRouter({ config, sql, strava, workflows, logger, batches, subscription: subscriptionHealth }));

  app.use(notFoundHandler);
  app.use(errorHandler(logger));

  const changeLogRetention = createChangeLogRetention({ sql, retentionMs: config.CHANGE_LOG_RETENTION, logger, now });
  const syncHistoryRetention = createSyncHistoryRetention({ sql, retentionMs: config.SYNC_HISTORY_RETENTION, logger });
  return Object.assign(app, { relay: webhooks.relay, inboxRetention: webhooks.retention, syncHistoryRetention, streams, subscriptionHealth, batches, settingsSync, changeLogRetention });
}
