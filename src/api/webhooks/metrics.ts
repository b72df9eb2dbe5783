import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';
import { perScrape } from '../http/per-scrape.js';

/**
 * Webhook and relay metrics. Module-level (the receiver and relay count into them wherever they run), in no
 * registry of their own: each app adds them to the registry it serves on /metrics (registerWebhookMetrics).
 */

export const webhookEventsReceived = new Counter({
  name: 'strava_webhook_events_received_total',
  help: 'Webhook POSTs by result: recorded (pending forward), duplicate, ignored, forwarded_without_inbox (database unreachable, signal accepted), rejected (400/413), failed (500: the insert failed for another reason; not forwarded), unavailable (503: neither PostgreSQL nor Temporal took it), busy (503: too many events waiting to be recorded). Every 200 answers the same body',
  labelNames: ['result'] as const,
  registers: [],
});

export const webhookEventsIgnored = new Counter({
  name: 'strava_webhook_events_ignored_total',
  help: 'Webhook events ignored (never forwarded; at most a small sample is stored), by reason: subscription_mismatch, no_subscription, athlete_not_connected, athlete_backlog_full',
  labelNames: ['reason'] as const,
  registers: [],
});

export const webhookAckSeconds = new Histogram({
  name: 'strava_webhook_ack_seconds',
  help: 'Time from receiving a webhook POST to answering it',
  buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
  registers: [],
});

export const relayForwarded = new Counter({
  name: 'strava_webhook_relay_forwarded_total',
  help: 'Inbox events the relay delivered to their athlete workflow',
  registers: [],
});

export const relayFailures = new Counter({
  name: 'strava_webhook_relay_failures_total',
  help: 'Relay batches that stopped because Temporal or PostgreSQL did not answer (the relay then backs off)',
  labelNames: ['target'] as const,
  registers: [],
});

export const inboxPruned = new Counter({
  name: 'strava_webhook_inbox_pruned_total',
  help: 'Forwarded or ignored inbox rows deleted after WEBHOOK_INBOX_RETENTION',
  registers: [],
});

/** Every webhook metric, for registering them in another registry as well. */
export const WEBHOOK_METRICS: Metric[] = [webhookEventsReceived, webhookEventsIgnored, webhookAckSeconds, relayForwarded, relayFailures, inboxPruned];

/**
 * The relay's backlog, read from PostgreSQL at scrape time (the inbox is shared, so every API instance reports the
 * same numbers): the signal to alert on when Temporal is down or the relay falls behind.
 */
export function registerInboxBacklogMetrics(registry: Registry, read: () => Promise<{ count: number; oldestReceivedAt: Date | null }>): void {
  const backlog = perScrape(read);
  new Gauge({
    name: 'strava_webhook_inbox_pending',
    help: 'Inbox events recorded but not yet forwarded to their workflow',
    registers: [registry],
    async collect() {
      const value = await backlog();
      if (value) this.set(value.count);
    },
  });
  new Gauge({
    name: 'strava_webhook_inbox_oldest_pending_seconds',
    help: 'Age of the oldest inbox event still waiting for the relay (0 when none)',
    registers: [registry],
    async collect() {
      const value = await backlog();
      if (value) this.set(value.oldestReceivedAt ? Math.max(0, (Date.now() - value.oldestReceivedAt.getTime()) / 1000) : 0);
    },
  });
}
