import type { Db } from '../connection.js';
import { pendingBacklog } from './webhook-inbox.js';

/** Counts for the management page: athletes per sync state and webhook inbox rows per outcome. */
export async function loadAdminCounts(sql: Db): Promise<{
  athletesByState: Record<string, number>;
  webhookEventsByOutcome: Record<string, number>;
  oldestPendingWebhookAt: Date | null;
}> {
  const [athletes, events, backlog] = await Promise.all([
    sql<{ state: string; count: number }[]>`select state, count(*)::int as count from athletes group by state`,
    sql<{ outcome: string; count: number }[]>`select outcome, count(*)::int as count from webhook_events group by outcome`,
    pendingBacklog(sql),
  ]);
  return {
    athletesByState: Object.fromEntries(athletes.map((row) => [row.state, row.count])),
    webhookEventsByOutcome: Object.fromEntries(events.map((row) => [row.outcome, row.count])),
    oldestPendingWebhookAt: backlog.oldestReceivedAt,
  };
}
