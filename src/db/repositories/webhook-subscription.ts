import type { Db } from '../connection.js';

/** The application's Strava push subscription as this deployment recorded it (migration 004). */
export interface StoredSubscription {
  subscriptionId: number;
  callbackUrl: string;
  createdAt: Date;
}

export async function getStoredSubscription(sql: Db): Promise<StoredSubscription | undefined> {
  const [row] = await sql<StoredSubscription[]>`
    select subscription_id as "subscriptionId", callback_url as "callbackUrl", created_at as "createdAt"
    from webhook_subscription`;
  return row;
}

/** Records (or replaces) the one subscription this application owns. */
export async function storeSubscription(sql: Db, subscriptionId: number, callbackUrl: string): Promise<StoredSubscription> {
  const [row] = await sql<StoredSubscription[]>`
    insert into webhook_subscription (singleton, subscription_id, callback_url)
    values (true, ${subscriptionId}, ${callbackUrl})
    on conflict (singleton) do update set
      subscription_id = excluded.subscription_id,
      callback_url = excluded.callback_url,
      created_at = case when webhook_subscription.subscription_id = excluded.subscription_id
                        then webhook_subscription.created_at else now() end
    returning subscription_id as "subscriptionId", callback_url as "callbackUrl", created_at as "createdAt"`;
  return row!;
}

export async function clearStoredSubscription(sql: Db): Promise<void> {
  await sql`delete from webhook_subscription`;
}
