import { bigintArray, type Db } from '../connection.js';

/** Why an event was recorded but will never be forwarded. */
export type IgnoreReason = 'athlete_not_connected' | 'subscription_mismatch';
export type InboxOutcome = 'pending' | 'forwarded' | 'ignored';

/** What the receiver stores: Strava's event identity plus the (title-redacted) updates object. */
export interface InboxEventInput {
  objectType: string;
  objectId: number;
  aspectType: string;
  ownerId: number;
  subscriptionId: number;
  eventTime: number;
  updates: Record<string, string | boolean | number | null>;
}

export interface InboxRow extends InboxEventInput {
  id: number;
  receivedAt: Date;
  forwardedAt: Date | null;
  outcome: InboxOutcome;
  ignoreReason: IgnoreReason | null;
  forwardAttempts: number;
}

export type RecordResult =
  | { kind: 'recorded'; id: number; outcome: 'pending' }
  | { kind: 'recorded'; id: number; outcome: 'ignored'; ignoreReason: IgnoreReason }
  | { kind: 'duplicate' };

const columns = (sql: Db) => sql`
  id, object_type as "objectType", object_id as "objectId", aspect_type as "aspectType", owner_id as "ownerId",
  subscription_id as "subscriptionId", event_time as "eventTime", updates, received_at as "receivedAt",
  forwarded_at as "forwardedAt", outcome, ignore_reason as "ignoreReason", forward_attempts as "forwardAttempts"`;

/**
 * Records one webhook event in a single autocommitted statement, deciding in the same statement whether it will
 * be forwarded: events for athletes who are not connected (no row, or revoked) or for a subscription other than
 * the stored one are kept as `ignored`. When no subscription is stored the subscription check is skipped.
 * A duplicate (same Strava event identity, including the redacted `updates`: migration 006) inserts nothing.
 */
export async function recordEvent(sql: Db, event: InboxEventInput): Promise<RecordResult> {
  const [row] = await sql<{ id: number | null; outcome: InboxOutcome | null; ignoreReason: IgnoreReason | null }[]>`
    with verdict as (
      select case
        when exists (select 1 from webhook_subscription)
             and not exists (select 1 from webhook_subscription where subscription_id = ${event.subscriptionId})
          then 'subscription_mismatch'
        when not exists (select 1 from athletes where id = ${event.ownerId} and state <> 'revoked')
          then 'athlete_not_connected'
      end as reason
    ), inserted as (
      insert into webhook_events
        (object_type, object_id, aspect_type, owner_id, subscription_id, event_time, updates, outcome, ignore_reason)
      select ${event.objectType}, ${event.objectId}, ${event.aspectType}, ${event.ownerId}, ${event.subscriptionId},
             ${event.eventTime}, ${sql.json(event.updates)},
             case when reason is null then 'pending' else 'ignored' end, reason
      from verdict
      on conflict (object_type, object_id, aspect_type, event_time, owner_id, md5(updates::text)) do nothing
      returning id, outcome, ignore_reason
    )
    select i.id, i.outcome, i.ignore_reason as "ignoreReason" from (select 1) as one left join inserted i on true`;
  if (!row || row.id === null) return { kind: 'duplicate' };
  if (row.outcome === 'ignored') return { kind: 'recorded', id: row.id, outcome: 'ignored', ignoreReason: row.ignoreReason! };
  return { kind: 'recorded', id: row.id, outcome: 'pending' };
}

/**
 * Locks up to `limit` pending rows, oldest first, skipping rows another relay (or instance) holds. Call inside a
 * transaction: the locks last until it ends, which is what keeps two relays from forwarding the same row.
 */
export async function claimPending(tx: Db, limit: number): Promise<InboxRow[]> {
  return tx<InboxRow[]>`
    select ${columns(tx)} from webhook_events
    where outcome = 'pending'
    order by id
    limit ${limit}
    for update skip locked`;
}

/**
 * For each owner, the id of its oldest pending row outside `batchIds` (committed state). A relay must not forward
 * a claimed row that is newer than such a row: that row is held by another relay, and would be overtaken.
 */
export async function oldestPendingOutside(tx: Db, ownerIds: number[], batchIds: number[]): Promise<Map<number, number>> {
  if (ownerIds.length === 0) return new Map();
  const rows = await tx<{ ownerId: number; id: number }[]>`
    select owner_id as "ownerId", min(id) as id from webhook_events
    where outcome = 'pending' and owner_id = any(${bigintArray(tx, ownerIds)})
      and id <> all(${bigintArray(tx, batchIds)})
    group by owner_id`;
  return new Map(rows.map((row) => [row.ownerId, row.id]));
}

export async function markForwarded(tx: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await tx`
    update webhook_events set outcome = 'forwarded', forwarded_at = now(), forward_attempts = forward_attempts + 1
    where id = any(${bigintArray(tx, ids)}) and outcome = 'pending'`;
}

export async function noteForwardFailure(tx: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await tx`update webhook_events set forward_attempts = forward_attempts + 1 where id = any(${bigintArray(tx, ids)})`;
}

/** The id of the first row received at or after `at` (ids grow with arrival), or null when every row is older. */
export async function firstIdReceivedSince(sql: Db, at: Date): Promise<number | null> {
  const [row] = await sql<{ id: number }[]>`select id from webhook_events where received_at >= ${at} order by id limit 1`;
  return row?.id ?? null;
}

/**
 * Deletes up to `limit` forwarded or ignored rows received before `before` with an id in (afterId, belowId), in id
 * order; pending rows are never deleted. The id range keeps each batch a short primary-key range scan: callers pass
 * the last id of the previous batch and the first id received since `before` (null: no bound). Returns how many
 * rows went and the highest id deleted.
 */
export async function pruneHandledEvents(
  sql: Db,
  range: { before: Date; afterId: number; belowId: number | null; limit: number },
): Promise<{ deleted: number; lastId: number | null }> {
  const [row] = await sql<{ deleted: number; lastId: number | null }[]>`
    with doomed as (
      select id from webhook_events
      where id > ${range.afterId} and id < ${range.belowId ?? Number.MAX_SAFE_INTEGER}
        and outcome <> 'pending' and received_at < ${range.before}
      order by id
      limit ${range.limit}
    ), deleted as (
      delete from webhook_events w using doomed where w.id = doomed.id returning w.id
    )
    select count(*)::int as deleted, max(id) as "lastId" from deleted`;
  return row ?? { deleted: 0, lastId: null };
}

/** How many rows wait for the relay, and since when the oldest of them has (null when none). */
export async function pendingBacklog(sql: Db): Promise<{ count: number; oldestReceivedAt: Date | null }> {
  const [row] = await sql<{ count: number; oldestReceivedAt: Date | null }[]>`
    select count(*)::int as count, min(received_at) as "oldestReceivedAt" from webhook_events where outcome = 'pending'`;
  return row ?? { count: 0, oldestReceivedAt: null };
}

export async function countByOutcome(sql: Db): Promise<Record<InboxOutcome, number>> {
  const rows = await sql<{ outcome: InboxOutcome; count: number }[]>`
    select outcome, count(*)::int as count from webhook_events group by outcome`;
  const counts: Record<InboxOutcome, number> = { pending: 0, forwarded: 0, ignored: 0 };
  for (const row of rows) counts[row.outcome] = row.count;
  return counts;
}

export async function listEvents(sql: Db, filter: { ownerId?: number; limit?: number } = {}): Promise<InboxRow[]> {
  return sql<InboxRow[]>`
    select ${columns(sql)} from webhook_events
    ${filter.ownerId !== undefined ? sql`where owner_id = ${filter.ownerId}` : sql``}
    order by id
    limit ${filter.limit ?? 1000}`;
}
