import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../../db/connection.js';
import { countActiveAthletes, lastGenuineWebhookAt } from '../../db/repositories/subscription-health.js';
import { perScrape } from '../http/per-scrape.js';
import type { SubscriptionHealth } from './health.js';

/**
 * Subscription health for alerting (docs/operations.md, "Subscription"), read from PostgreSQL at scrape time so
 * every API instance reports the same values. No scrape ever calls Strava: `..._subscription_up` shows the last
 * answer of the periodic check or of the page.
 */
export function registerSubscriptionMetrics(registry: Registry, sql: Db, health: Pick<SubscriptionHealth, 'up'>): void {
  const lastWebhook = perScrape(() => lastGenuineWebhookAt(sql));
  new Gauge({
    name: 'strava_webhook_last_received_age_seconds',
    help: 'Seconds since the newest genuine webhook event (accepted: the recorded subscription id, a connected athlete); +Inf when none is on record within WEBHOOK_INBOX_RETENTION',
    registers: [registry],
    async collect() {
      const at = await lastWebhook();
      if (at !== undefined) this.set(at ? Math.max(0, (Date.now() - at.getTime()) / 1000) : Number.POSITIVE_INFINITY);
    },
  });
  const up = perScrape(() => health.up());
  new Gauge({
    name: 'strava_webhook_subscription_up',
    help: "1 when Strava's last answer (periodic check or the management page) lists a push subscription delivering to this deployment under the recorded id, else 0; absent before the first answer",
    registers: [registry],
    async collect() {
      const value = await up();
      if (value !== undefined) this.set(value);
    },
  });
  // One index probe per connected athlete (activities_athlete_start): cheap enough for every scrape.
  const active = perScrape(() => countActiveAthletes(sql));
  new Gauge({
    name: 'strava_athletes_active',
    help: 'Connected athletes with an activity that started within the last 14 days (those whose uploads produce webhook events)',
    registers: [registry],
    async collect() {
      const count = await active();
      if (count !== undefined) this.set(count);
    },
  });
}
