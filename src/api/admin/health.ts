import type { Db } from '../../db/connection.js';
import { loadEventLatencyBuckets, loadWindowCounts, type LatencySummary, type WindowCounts } from '../../db/repositories/sync-health.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '../../domain/durations.js';
import type { AdminHealth, WindowHealth } from './sync-history-schemas.js';

/**
 * The four health numbers for the management page and GET /admin/health, computed from the sync history in
 * PostgreSQL (so they are the fleet's, whatever the number of workers). docs/operations.md, "Health numbers",
 * defines each one.
 */

export const HEALTH_WINDOWS = { '1h': HOUR_MS, '24h': DAY_MS } as const;

/** Upper bounds (ms) of the event -> row latency chart's buckets; the last one also holds anything slower. */
export const LATENCY_BUCKET_BOUNDS_MS = [
  SECOND_MS, 2 * SECOND_MS, 5 * SECOND_MS, 10 * SECOND_MS, 30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS,
  15 * MINUTE_MS, HOUR_MS, 3 * HOUR_MS, 6 * HOUR_MS, DAY_MS, 7 * DAY_MS,
];

/** part / whole in 0..1, or null when there is nothing to divide (no rate is better than a made-up 100 %). */
export function rate(part: number, whole: number): number | null {
  if (!(whole > 0)) return null;
  return Math.min(1, Math.max(0, part / whole));
}

const summary = (latency: LatencySummary) => (latency.count > 0 ? latency : null);

/** The rates of one window from its raw counts (pure). */
export function toWindowHealth(counts: WindowCounts): WindowHealth {
  const { webhookDelivery, backfillCompletion, tokenRefresh, latency } = counts;
  return {
    webhookDelivery: { ...webhookDelivery, rate: rate(webhookDelivery.viaWebhook, webhookDelivery.viaWebhook + webhookDelivery.repairs) },
    backfillCompletion: { ...backfillCompletion, rate: rate(backfillCompletion.completed, backfillCompletion.due) },
    tokenRefresh: { ...tokenRefresh, rate: rate(tokenRefresh.succeeded, tokenRefresh.attempted) },
    latency: { eventToRow: summary(latency.eventToRow), receiptToRow: summary(latency.receiptToRow) },
  };
}

export async function loadHealth(sql: Db, options: { lateAfterMs: number; now?: () => number }): Promise<AdminHealth> {
  const [hour, day, buckets] = await Promise.all([
    loadWindowCounts(sql, HEALTH_WINDOWS['1h'], options.lateAfterMs),
    loadWindowCounts(sql, HEALTH_WINDOWS['24h'], options.lateAfterMs),
    loadEventLatencyBuckets(sql, HEALTH_WINDOWS['24h'], LATENCY_BUCKET_BOUNDS_MS),
  ]);
  return {
    windows: { '1h': toWindowHealth(hour), '24h': toWindowHealth(day) },
    latencyBuckets: LATENCY_BUCKET_BOUNDS_MS.map((le, i) => ({ le, count: buckets[i] ?? 0 })),
    generatedAt: new Date((options.now ?? Date.now)()).toISOString(),
  };
}
