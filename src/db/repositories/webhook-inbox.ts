import type { WebhookAspectType, WebhookObjectType } from '../../domain/sync-types.js';
import { bigintArray, type Db, type Sql } from '../connection.js';

/**
 * Why an event was recorded but will never be forwarded. A closed set: it is the `reason` label of
 * strava_webhook_events_ignored_total.
 */
export const IGNORE_REASONS = ['subscription_mismatch', 'no_subscription', 'athlete_not_connected', 'athlete_backlog_full'] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];
export type InboxOutcome = 'pending' | 'forwarded' | 'ignored';

/** What the receiver stores: Strava's event identity plus the updates object (a title only as its keyed digest). */
export interface InboxEventInput {
  objectType: WebhookObjectType;
  objectId: number;
  aspectType: WebhookAspectType;
  ownerId: number;
  subscriptionId: number;
  /** As sent: part of the event's identity, so Strava's retries collide. */
  eventTime: number;
  /** What the workflow receives: eventTime clamped to the server's clock at receipt (defaults to eventTime). */
  appliedEventTime?: number;
  updates: Record<string, string | boolean | number | null>;
}

/** An event as the receiver stores it: the applied event time always set. */
export type InboxEvent = InboxEventInput & { appliedEventTime: number };

/** A stored row. Only recordEvent writes the table, so its text columns hold what InboxEventInput allows. */
export interface InboxRow extends InboxEvent {
  id: number;
  receivedAt: Date;
  forwardedAt: Date | null;
  outcome: InboxOutcome;
  ignoreReason: IgnoreReason | null;
  forwardAttempts: number;
}

/** The subscription id stored when the event was recorded (null: none), for the receiver's database-down path. */
export type RecordResult = (
  | { kind: 'recorded'; id: number; outcome: 'pending' }
  | { kind: 'recorded'; id: number; outcome: 'ignored'; ignoreReason: IgnoreReason }
  | { kind: 'duplicate' }
) & { storedSubscriptionId: number | null };

export interface RecordOptions {
  /** Refuse (ignore) every event while no subscription is stored; otherwise the subscription check is skipped. */
  requireSubscription?: boolean;
  /** Slots of the ignored-event sample (migration 007): at most this many ignored rows exist. */
  ignoredSampleSize?: number;
  /** Pending rows an athlete may have; further events for it are ignored (`athlete_backlog_full`). */
  maxPendingPerAthlete?: number;
}

export const IGNORED_SAMPLE_SIZE = 100;
export const MAX_PENDING_PER_ATHLETE = 1_000;

const columns = (sql: Db) => sql`
  id, object_type as "objectType", object_id as "objectId", aspect_type as "aspectType", owner_id as "ownerId",
  subscription_id as "subscriptionId", event_time as "eventTime",
  coalesce(applied_event_time, event_time) as "appliedEventTime", updates, received_at as "receivedAt",
  forwarded_at as "forwardedAt", outcome, ignore_reason as "ignoreReason", forward_attempts as "forwardAttempts"`;

/**
 * Records one webhook event in a single autocommitted statement, deciding in the same statement whether it will
 * be forwarded. It is ignored when its subscription_id is not the stored one (or none is stored and
 * `requireSubscription`), when the athlete is not connected (no row, or revoked), or when the athlete already has
 * `maxPendingPerAthlete` rows waiting. An ignored event takes a slot of the bounded sample (replacing that slot's
 * row) and never takes part in duplicate detection. A duplicate (same Strava event identity, including the
 * `updates` with its title digest: migrations 006/007) of a pending or forwarded row inserts nothing; an event
 * dated after its receipt never counts as the original of a later one.
 */
export async function recordEvent(sql: Db, event: InboxEventInput, options: RecordOptions = {}): Promise<RecordResult> {
  const requireSubscription = options.requireSubscription ?? false;
  const sampleSize = options.ignoredSampleSize ?? IGNORED_SAMPLE_SIZE;
  const maxPending = options.maxPendingPerAthlete ?? MAX_PENDING_PER_ATHLETE;
  const appliedEventTime = Math.min(event.appliedEventTime ?? event.eventTime, event.eventTime);
  // Each value is sent once (the input row) and both inserts read it: half the parameters to encode and bind.
  const [row] = await sql<{ id: number | null; outcome: InboxOutcome | null; ignoreReason: IgnoreReason | null; storedSubscriptionId: number | null }[]>`
    with input as (
      select ${event.objectType}::text as object_type, ${event.objectId}::bigint as object_id,
             ${event.aspectType}::text as aspect_type, ${event.ownerId}::bigint as owner_id,
             ${event.subscriptionId}::bigint as subscription_id, ${event.eventTime}::bigint as event_time,
             ${appliedEventTime}::bigint as applied_event_time, ${sql.json(event.updates)}::jsonb as updates,
             ${maxPending}::int as max_pending
    ), stored as (
      select (select subscription_id from webhook_subscription) as subscription_id
    ), verdict as (
      select case
        when stored.subscription_id is null and ${requireSubscription} then 'no_subscription'
        when stored.subscription_id is not null and stored.subscription_id <> input.subscription_id
          then 'subscription_mismatch'
        when not exists (select 1 from athletes where id = input.owner_id and state <> 'revoked')
          then 'athlete_not_connected'
        when (select count(*) from (
                select 1 from webhook_events where owner_id = input.owner_id and outcome = 'pending' limit input.max_pending
              ) backlog) >= input.max_pending
          then 'athlete_backlog_full'
      end as reason
      from stored, input
    ), accepted as (
      insert into webhook_events
        (object_type, object_id, aspect_type, owner_id, subscription_id, event_time, applied_event_time, updates, outcome)
      select object_type, object_id, aspect_type, owner_id, subscription_id, event_time, applied_event_time, updates, 'pending'
      from input, verdict where reason is null
      on conflict (object_type, object_id, aspect_type, event_time, owner_id, md5(updates::text))
        where outcome <> 'ignored' and (applied_event_time is null or event_time <= applied_event_time)
        do nothing
      returning id, outcome, ignore_reason
    ), sampled as (
      insert into webhook_events
        (object_type, object_id, aspect_type, owner_id, subscription_id, event_time, applied_event_time, updates,
         outcome, ignore_reason, ignored_slot)
      select object_type, object_id, aspect_type, owner_id, subscription_id, event_time, applied_event_time, updates,
             'ignored', reason, (nextval('webhook_events_ignored_slot') % ${sampleSize})::int
      from input, verdict where reason is not null
      on conflict (ignored_slot) where outcome = 'ignored' do update set
        -- A new id keeps "ids grow with arrival", which inbox retention relies on.
        id = excluded.id, object_type = excluded.object_type, object_id = excluded.object_id,
        aspect_type = excluded.aspect_type, owner_id = excluded.owner_id, subscription_id = excluded.subscription_id,
        event_time = excluded.event_time, applied_event_time = excluded.applied_event_time, updates = excluded.updates,
        ignore_reason = excluded.ignore_reason, received_at = excluded.received_at
      returning id, outcome, ignore_reason
    ), inserted as (
      select * from accepted union all select * from sampled
    )
    select i.id, i.outcome, i.ignore_reason as "ignoreReason", stored.subscription_id as "storedSubscriptionId"
    from stored left join inserted i on true`;
  const storedSubscriptionId = row?.storedSubscriptionId ?? null;
  if (!row || row.id === null) return { kind: 'duplicate', storedSubscriptionId };
  if (row.outcome === 'ignored') return { kind: 'recorded', id: row.id, outcome: 'ignored', ignoreReason: row.ignoreReason!, storedSubscriptionId };
  return { kind: 'recorded', id: row.id, outcome: 'pending', storedSubscriptionId };
}

/**
 * Group commit: records `events` in one transaction, each with recordEvent's own statement, sent together
 * (pipelined) so the batch costs one commit and one WAL flush instead of one per event. Each statement sees the
 * rows of the ones before it, so every result is exactly what recordEvent would have returned for the events
 * recorded one after another in this order (a repeat within the batch is a duplicate; earlier events count
 * toward the per-athlete cap). All or nothing: when any statement fails, the transaction rolls back, nothing
 * is recorded and the promise rejects with that statement's error.
 */
export async function recordEvents(sql: Sql, events: readonly InboxEventInput[], options: RecordOptions = {}): Promise<RecordResult[]> {
  if (events.length === 0) return [];
  if (events.length === 1) return [await recordEvent(sql, events[0]!, options)];
  // Calling recordEvent issues its statement at once; on a transaction's one connection they queue in order.
  return sql.begin((tx) => events.map((event) => recordEvent(tx, event, options)));
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
