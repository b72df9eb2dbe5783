import { createHash } from 'node:crypto';
import type { StravaEventSignal } from '../../domain/sync-types.js';
import type { InboxEvent } from '../../db/repositories/webhook-inbox.js';

/**
 * What the signal is made of: an inbox row, or the event the receiver was about to store (PostgreSQL down), with
 * the moment the API received it when known (the sync history measures receipt -> row latency from it).
 */
export type SignalSource = Pick<InboxEvent, 'objectType' | 'objectId' | 'aspectType' | 'ownerId' | 'appliedEventTime' | 'updates'> & {
  receivedAt?: Date | number;
};

/**
 * The one mapping from a recorded webhook event to the signal the athlete workflow receives: ids and flags only.
 * An activity title is personal data and must not land in workflow history, so only the names of the changed
 * keys travel. The workflow sees the applied (clamped) event time, never Strava's claim from the future.
 */
export function toEventSignal(event: SignalSource): StravaEventSignal {
  const updates = event.updates;
  const signal: StravaEventSignal = {
    objectType: event.objectType,
    objectId: event.objectId,
    aspectType: event.aspectType,
    ownerId: event.ownerId,
    eventTime: event.appliedEventTime,
    updatedFields: Object.keys(updates).sort(),
  };
  // Two different changes of the same fields in the same second must stay two events for the workflow's dedupe; the
  // stored values are already free of titles (keyed digests), and this digest of them is one step further removed.
  if (signal.updatedFields.length > 0) signal.updatesDigest = digestOf(updates);
  const privateFlag = readBoolean(updates.private);
  if (privateFlag !== undefined) signal.private = privateFlag;
  if (event.objectType === 'athlete' && readBoolean(updates.authorized) === false) signal.deauthorized = true;
  const receivedAt = event.receivedAt instanceof Date ? event.receivedAt.getTime() : event.receivedAt;
  if (receivedAt !== undefined && Number.isFinite(receivedAt)) signal.receivedAt = receivedAt;
  return signal;
}

function digestOf(updates: SignalSource['updates']): string {
  const canonical = JSON.stringify(Object.keys(updates).sort().map((key) => [key, updates[key]]));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** Strava sends booleans inside `updates` as "true"/"false" strings; stored rows hold either form. */
function readBoolean(value: unknown): boolean | undefined {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return undefined;
}
