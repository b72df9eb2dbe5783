/**
 * What the chaos scenario compares: the service's database against the emulator's ground-truth snapshot, and
 * the webhooks the API answered 200 against what reached the inbox or the workflows.
 */
import type { Sql } from '../../src/db/connection.js';
import type { GroundTruthSnapshot } from '../../src/emulator/snapshot.js';
import type { DeliveryRecord } from '../../src/emulator/webhooks.js';

export interface StoredRow {
  athleteId: number;
  id: number;
  name: string;
  sportType: string;
  private: boolean;
  visibility: string | null;
}

export interface Divergence {
  athleteId: number;
  activityId: number;
  /** missing: Strava shows it, the database lacks it; extra: the other way round; stale: fields differ. */
  kind: 'missing' | 'extra' | 'stale';
  fields?: string[];
}

export async function storedRows(sql: Sql): Promise<StoredRow[]> {
  return sql<StoredRow[]>`
    select athlete_id as "athleteId", id, name, sport_type as "sportType", private, visibility from activities order by id`;
}

/** Every difference between the database and the snapshot (name, sport type, private flag, visibility). */
export function divergences(snapshot: GroundTruthSnapshot, rows: StoredRow[]): Divergence[] {
  const out: Divergence[] = [];
  const stored = new Map(rows.map((r) => [r.id, r]));
  const expectedIds = new Set<number>();
  for (const athlete of snapshot.athletes) {
    for (const a of athlete.activities) {
      expectedIds.add(a.id);
      const row = stored.get(a.id);
      if (!row || row.athleteId !== athlete.id) {
        out.push({ athleteId: athlete.id, activityId: a.id, kind: 'missing' });
        continue;
      }
      const fields: string[] = [];
      if (row.name !== a.name) fields.push('name');
      if (row.sportType !== a.sport_type) fields.push('sport_type');
      if (row.private !== a.private) fields.push('private');
      if (row.visibility !== a.visibility) fields.push('visibility');
      if (fields.length > 0) out.push({ athleteId: athlete.id, activityId: a.id, kind: 'stale', fields });
    }
  }
  for (const row of rows) if (!expectedIds.has(row.id)) out.push({ athleteId: row.athleteId, activityId: row.id, kind: 'extra' });
  return out;
}

export function summarize(list: Divergence[]): Record<string, number> {
  const counts: Record<string, number> = { missing: 0, extra: 0, stale: 0 };
  for (const d of list) counts[d.kind] = (counts[d.kind] ?? 0) + 1;
  return counts;
}

/** The identity of a webhook event as both the emulator's log and the inbox know it. */
export const eventIdentity = (e: { objectType: string; objectId: number; aspectType: string; eventTime: number; ownerId: number }) =>
  `${e.objectType}:${e.objectId}:${e.aspectType}:${e.eventTime}:${e.ownerId}`;

/** Deliveries the API answered 200 (any attempt), one per distinct event. */
export function ackedEvents(log: DeliveryRecord[]): Map<string, DeliveryRecord> {
  const acked = new Map<string, DeliveryRecord>();
  for (const delivery of log) {
    if (!delivery.attempts.some((a) => a.status === 200)) continue;
    const e = delivery.event;
    const key = `${eventIdentity({ objectType: e.object_type, objectId: e.object_id, aspectType: e.aspect_type, eventTime: e.event_time, ownerId: e.owner_id })}:${JSON.stringify(e.updates ?? {})}`;
    acked.set(key, delivery);
  }
  return acked;
}

export interface InboxIdentityRow {
  objectType: string;
  objectId: number;
  aspectType: string;
  eventTime: number;
  ownerId: number;
  outcome: string;
  ignoreReason: string | null;
}

export async function inboxRows(sql: Sql): Promise<InboxIdentityRow[]> {
  return sql<InboxIdentityRow[]>`
    select object_type as "objectType", object_id as "objectId", aspect_type as "aspectType", event_time as "eventTime",
           owner_id as "ownerId", outcome, ignore_reason as "ignoreReason"
    from webhook_events`;
}
