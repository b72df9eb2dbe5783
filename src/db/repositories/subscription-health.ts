import type { Db } from '../connection.js';

/** The last look at Strava's push subscription (table webhook_subscription_check, migration 011). */
export interface SubscriptionCheckRow {
  checkedAt: Date;
  /** When Strava last answered; null if it never did. */
  answeredAt: Date | null;
  /** As of answeredAt; null: no subscription. */
  subscriptionId: number | null;
  callbackUrl: string | null;
  /** Why the last attempt got no answer. */
  error: string | null;
}

export async function readSubscriptionCheck(sql: Db): Promise<SubscriptionCheckRow | undefined> {
  const [row] = await sql<SubscriptionCheckRow[]>`
    select checked_at as "checkedAt", answered_at as "answeredAt", subscription_id as "subscriptionId",
           callback_url as "callbackUrl", error
    from webhook_subscription_check`;
  return row;
}

/**
 * Takes the turn to ask Strava: moves checked_at to `at` unless another caller did since `staleBefore`. True for the
 * one caller (of any process) that should send the request. Until it records the outcome, the row is "asking":
 * answered_at older than checked_at and no error.
 */
export async function claimSubscriptionCheck(sql: Db, at: Date, staleBefore: Date): Promise<boolean> {
  const rows = await sql`
    insert into webhook_subscription_check (singleton, checked_at) values (true, ${at})
    on conflict (singleton) do update set checked_at = excluded.checked_at, error = null
      where webhook_subscription_check.checked_at < ${staleBefore}
    returning singleton`;
  return rows.length > 0;
}

/** Records Strava's answer: the subscription it listed, or none. */
export async function recordSubscriptionAnswer(sql: Db, at: Date, subscription: { id: number; callbackUrl: string } | null): Promise<void> {
  await sql`
    insert into webhook_subscription_check (singleton, checked_at, answered_at, subscription_id, callback_url, error)
    values (true, ${at}, ${at}, ${subscription?.id ?? null}, ${subscription?.callbackUrl ?? null}, null)
    on conflict (singleton) do update set
      checked_at = excluded.checked_at, answered_at = excluded.answered_at, subscription_id = excluded.subscription_id,
      callback_url = excluded.callback_url, error = null`;
}

/** Records a failed attempt; what Strava last answered stays. */
export async function recordSubscriptionCheckFailure(sql: Db, at: Date, error: string): Promise<void> {
  await sql`
    insert into webhook_subscription_check (singleton, checked_at, error) values (true, ${at}, ${error})
    on conflict (singleton) do update set checked_at = excluded.checked_at, error = excluded.error`;
}

/** After a create or delete: the next look asks Strava again. */
export async function expireSubscriptionCheck(sql: Db): Promise<void> {
  await sql`update webhook_subscription_check set checked_at = 'epoch'`;
}

/**
 * When the newest genuine webhook event arrived: one the receiver accepted (it carried the recorded subscription id
 * and a connected athlete), whatever became of it later. Ignored rows are a sample of at most 100 (migration 007),
 * so walking the primary key backwards passes at most that many. Forwarded rows are pruned after
 * WEBHOOK_INBOX_RETENTION: null then means "none within the retention".
 */
export async function lastGenuineWebhookAt(sql: Db): Promise<Date | null> {
  const [row] = await sql<{ receivedAt: Date }[]>`
    select received_at as "receivedAt" from webhook_events where outcome <> 'ignored' order by id desc limit 1`;
  return row?.receivedAt ?? null;
}

/**
 * Connected athletes likely to produce webhook events: not revoked, with an activity that started within the
 * last 14 days (the backfill planner's "active" class, src/domain/fleet-load.ts).
 */
export async function countActiveAthletes(sql: Db): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from athletes a
    where a.state <> 'revoked'
      and exists (select 1 from activities x where x.athlete_id = a.id and x.start_date > now() - interval '14 days')`;
  return row!.count;
}
