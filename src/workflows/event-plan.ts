import type { StravaEventSignal } from '../domain/sync-types.js';

/**
 * Pure helpers that turn a batch of webhook events into per-activity actions. Strava sends duplicates and
 * promises no order, so the workflow keeps only the newest event of each activity and never lets an event
 * older than a recorded delete bring the activity back.
 */

/** Identity of an event as Strava would re-send it. */
export function eventKey(event: StravaEventSignal): string {
  const fields = [...event.updatedFields].sort().join(',');
  const key = [event.objectType, event.objectId, event.aspectType, event.eventTime, fields, event.private ?? '', event.deauthorized ?? ''];
  // Signals recorded before the digest existed keep the key they had (the carried dedupe keys still match them).
  if (event.updatesDigest !== undefined) key.push(event.updatesDigest);
  return key.join(':');
}

export type ActivityAction =
  | { kind: 'fetch'; activityId: number; eventTime: number; afterCreate: boolean; events: StravaEventSignal[] }
  | { kind: 'delete'; activityId: number; eventTime: number; events: StravaEventSignal[] }
  | { kind: 'stale'; activityId: number; eventTime: number; events: StravaEventSignal[] };

/** Groups activity events by activity (first-seen order) and decides one action per activity. */
export function planActivityEvents(events: StravaEventSignal[], tombstones: Record<string, number>): ActivityAction[] {
  const groups: StravaEventSignal[][] = [];
  const index: Record<string, number> = {};
  for (const event of events) {
    if (event.objectType !== 'activity') continue;
    const key = String(event.objectId);
    if (index[key] === undefined) {
      index[key] = groups.length;
      groups.push([]);
    }
    groups[index[key]]!.push(event);
  }
  return groups.map((group) => {
    const latestTime = Math.max(...group.map((e) => e.eventTime));
    const newest = group.filter((e) => e.eventTime === latestTime);
    const activityId = group[0]!.objectId;
    // event_time has one-second resolution: a delete and a create in the same second cannot be ordered, so
    // Strava decides (fetch; a 404 then removes the activity at once).
    if (newest.every((e) => e.aspectType === 'delete')) return { kind: 'delete', activityId, eventTime: latestTime, events: group };
    const deletedAt = tombstones[String(activityId)];
    if (deletedAt !== undefined && deletedAt > latestTime) {
      return { kind: 'stale', activityId, eventTime: latestTime, events: group };
    }
    const tie = newest.some((e) => e.aspectType === 'delete') || (deletedAt !== undefined && deletedAt === latestTime);
    return { kind: 'fetch', activityId, eventTime: latestTime, afterCreate: !tie && group.some((e) => e.aspectType === 'create'), events: group };
  });
}

/** Appends to a bounded list, dropping the oldest entries. */
export function pushBounded(list: string[], value: string, max: number): void {
  list.push(value);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Records a tombstone in a bounded record: the oldest deletes are forgotten first (the database keeps them all). */
export function recordTombstone(tombstones: Record<string, number>, activityId: number, eventTime: number, max: number): void {
  const key = String(activityId);
  tombstones[key] = Math.max(tombstones[key] ?? 0, eventTime);
  const keys = Object.keys(tombstones);
  if (keys.length <= max) return;
  keys.sort((a, b) => tombstones[a]! - tombstones[b]!);
  for (const old of keys.slice(0, keys.length - max)) delete tombstones[old];
}
