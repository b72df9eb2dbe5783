import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import type { AthleteGateway, EventForwarder } from '../../temporal/athlete-gateway.js';
import { pendingBacklog } from '../../db/repositories/webhook-inbox.js';
import { registerInboxBacklogMetrics, WEBHOOK_METRICS } from './metrics.js';
import { createInboxRetention, type InboxRetention, type InboxRetentionOptions } from './inbox-retention.js';
import { createInboxRelay, type InboxRelay, type InboxRelayOptions } from './relay.js';
import { createWebhookRouter, type WebhookRouterDeps } from './router.js';

export { createWebhookRouter, type WebhookRouterDeps, WEBHOOK_BODY_LIMIT_BYTES } from './router.js';
export { createInboxRelay, type InboxRelay } from './relay.js';
export { createInboxRetention, type InboxRetention } from './inbox-retention.js';
export { webhookCallbackPath, webhookCallbackUrl, WEBHOOK_BASE_PATH } from './paths.js';
export * from './event-schema.js';
export { toEventSignal } from './event-signal.js';

export interface WebhookIngestionDeps {
  config: Config;
  sql: Sql;
  /** The athlete workflows' gateway (the process's one Temporal Client). */
  workflows: Pick<AthleteGateway, 'eventForwarder'>;
  logger?: Logger;
  relay?: Omit<InboxRelayOptions, 'sql' | 'forwarder' | 'logger'>;
  retention?: Omit<InboxRetentionOptions, 'sql' | 'retentionMs' | 'logger'>;
  /** Deadline for the direct signal when PostgreSQL is down (the whole answer must fit in Strava's 2 s). */
  directSignalTimeoutMs?: number;
  /** Deadline for one relay signal. */
  relaySignalTimeoutMs?: number;
  /** Ignore events while no subscription is stored; defaults to NODE_ENV=production. */
  requireSubscription?: boolean;
  /** Inbox bounds (tests shrink them). */
  inbox?: WebhookRouterDeps['inbox'];
  /** Group commit of inbox rows (on by default). */
  groupCommit?: WebhookRouterDeps['groupCommit'];
}

export interface WebhookIngestion {
  router: Router;
  relay: InboxRelay;
  /** Deletes handled inbox rows past WEBHOOK_INBOX_RETENTION; runs beside the relay. */
  retention: InboxRetention;
  forwarder: EventForwarder;
}

/**
 * Everything the app needs for webhooks: the router, the relay that forwards inbox rows and the retention that
 * prunes handled ones (start both with the server, stop them during graceful shutdown).
 */
export function createWebhookIngestion(deps: WebhookIngestionDeps): WebhookIngestion {
  const relayForwarder = deps.workflows.eventForwarder(deps.relaySignalTimeoutMs ?? 5_000);
  const directForwarder = deps.workflows.eventForwarder(deps.directSignalTimeoutMs ?? 800);
  const relay = createInboxRelay({ sql: deps.sql, forwarder: relayForwarder, ...(deps.logger ? { logger: deps.logger } : {}), ...deps.relay });
  const router = createWebhookRouter({
    config: deps.config,
    sql: deps.sql,
    forwarder: directForwarder,
    onRecorded: () => relay.nudge(),
    requireSubscription: deps.requireSubscription ?? deps.config.NODE_ENV === 'production',
    ...(deps.inbox ? { inbox: deps.inbox } : {}),
    ...(deps.groupCommit !== undefined ? { groupCommit: deps.groupCommit } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  const retention = createInboxRetention({
    sql: deps.sql,
    retentionMs: deps.config.WEBHOOK_INBOX_RETENTION,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...deps.retention,
  });
  return { router, relay, retention, forwarder: relayForwarder };
}

/** Adds the webhook metrics, and the inbox backlog read from `sql`, to an app's registry (call once per registry). */
export function registerWebhookMetrics(registry: Registry, sql: Sql): void {
  for (const metric of WEBHOOK_METRICS) registry.registerMetric(metric);
  registerInboxBacklogMetrics(registry, () => pendingBacklog(sql));
}
