import type { Client } from '@temporalio/client';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { createEventForwarder, type EventForwarder } from './forward.js';
import { WEBHOOK_METRICS } from './metrics.js';
import { createInboxRelay, type InboxRelay, type InboxRelayOptions } from './relay.js';
import { createWebhookRouter } from './router.js';

export { createWebhookRouter, type WebhookRouterDeps, WEBHOOK_BODY_LIMIT_BYTES } from './router.js';
export { createInboxRelay, type InboxRelay } from './relay.js';
export { createEventForwarder, type EventForwarder } from './forward.js';
export { webhookCallbackPath, webhookCallbackUrl, WEBHOOK_BASE_PATH } from './paths.js';
export * from './event-schema.js';

export interface WebhookIngestionDeps {
  config: Config;
  sql: Sql;
  temporal: Client;
  logger?: Logger;
  relay?: Omit<InboxRelayOptions, 'sql' | 'forwarder' | 'logger'>;
  /** Deadline for the direct signal when PostgreSQL is down (the whole answer must fit in Strava's 2 s). */
  directSignalTimeoutMs?: number;
  /** Deadline for one relay signal. */
  relaySignalTimeoutMs?: number;
}

export interface WebhookIngestion {
  router: Router;
  relay: InboxRelay;
  forwarder: EventForwarder;
}

/**
 * Everything the app needs for webhooks: the router, and the relay that forwards inbox rows (start it with the
 * server, stop it during graceful shutdown: `relay.start()` / `await relay.stop()`).
 */
export function createWebhookIngestion(deps: WebhookIngestionDeps): WebhookIngestion {
  const relayForwarder = createEventForwarder(deps.temporal, deps.config, { timeoutMs: deps.relaySignalTimeoutMs ?? 5_000 });
  const directForwarder = createEventForwarder(deps.temporal, deps.config, { timeoutMs: deps.directSignalTimeoutMs ?? 800 });
  const relay = createInboxRelay({ sql: deps.sql, forwarder: relayForwarder, ...(deps.logger ? { logger: deps.logger } : {}), ...deps.relay });
  const router = createWebhookRouter({
    config: deps.config,
    sql: deps.sql,
    forwarder: directForwarder,
    onRecorded: () => relay.nudge(),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  return { router, relay, forwarder: relayForwarder };
}

/** Adds the webhook metrics to an app's registry (call once per registry). */
export function registerWebhookMetrics(registry: Registry): void {
  for (const metric of WEBHOOK_METRICS) registry.registerMetric(metric);
}
