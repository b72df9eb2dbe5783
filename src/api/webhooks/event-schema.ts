import { z } from 'zod';
import type { StravaEventSignal } from '../../domain/sync-types.js';
import type { InboxEventInput } from '../../db/repositories/webhook-inbox.js';

/** Strava ids are positive integers that exceed 2^31 but stay below 2^53. */
const stravaId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Strava sends booleans inside `updates` as the strings "true"/"false"; accept real booleans too. */
const stringBoolean = z.union([z.enum(['true', 'false']), z.boolean()]).transform((value) => value === true || value === 'true');

/**
 * The `updates` object: title/type/private on activity updates, authorized on athlete updates, `{}` on
 * create/delete. Unknown keys are kept (Strava may add fields) as long as they are scalars.
 */
export const webhookUpdatesSchema = z
  .object({
    title: z.string().max(2_000).optional(),
    type: z.string().max(100).optional(),
    private: stringBoolean.optional(),
    authorized: stringBoolean.optional(),
  })
  .catchall(z.union([z.string().max(2_000), z.number(), z.boolean(), z.null()]));

/** A Strava push event (docs/strava-api.md, "Webhooks"). Some senders omit `updates`; null counts as missing. */
export const webhookEventSchema = z
  .object({
    object_type: z.enum(['activity', 'athlete']),
    object_id: stravaId,
    aspect_type: z.enum(['create', 'update', 'delete']),
    updates: webhookUpdatesSchema.nullish().transform((updates) => updates ?? {}),
    owner_id: stravaId,
    subscription_id: stravaId,
    event_time: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  })
  .meta({ id: 'StravaWebhookEvent', description: 'An event Strava pushes to the subscription callback' });
export type WebhookEvent = z.output<typeof webhookEventSchema>;
export type WebhookEventInput = z.input<typeof webhookEventSchema>;

/** GET handshake parameters Strava sends when a subscription is created. */
export const handshakeQuerySchema = z.object({
  'hub.mode': z.literal('subscribe'),
  'hub.challenge': z.string().min(1).max(512),
  'hub.verify_token': z.string().min(1).max(512),
});
export const handshakeResponseSchema = z.object({ 'hub.challenge': z.string() });

export const webhookAckSchema = z.object({
  status: z.enum(['recorded', 'duplicate', 'ignored', 'forwarded']),
});
export type WebhookAck = z.infer<typeof webhookAckSchema>;

/**
 * The signal the athlete workflow receives: ids and flags only. An activity title is personal data and must not
 * land in workflow history, so only the names of the changed keys travel.
 */
export function toEventSignal(event: Pick<WebhookEvent, 'object_type' | 'object_id' | 'aspect_type' | 'owner_id' | 'event_time'> & {
  updates: Record<string, unknown>;
}): StravaEventSignal {
  const updates = event.updates;
  const signal: StravaEventSignal = {
    objectType: event.object_type,
    objectId: event.object_id,
    aspectType: event.aspect_type,
    ownerId: event.owner_id,
    eventTime: event.event_time,
    updatedFields: Object.keys(updates).sort(),
  };
  const privateFlag = readBoolean(updates.private);
  if (privateFlag !== undefined) signal.private = privateFlag;
  if (event.object_type === 'athlete' && readBoolean(updates.authorized) === false) signal.deauthorized = true;
  return signal;
}

function readBoolean(value: unknown): boolean | undefined {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return undefined;
}

/** The title text is replaced before the event is stored: the inbox needs to know a title changed, not what to. */
export const REDACTED = '[redacted]';

export function toInboxInput(event: WebhookEvent): InboxEventInput {
  const updates: InboxEventInput['updates'] = {};
  for (const [key, value] of Object.entries(event.updates)) {
    if (value === undefined) continue;
    updates[key] = key === 'title' ? REDACTED : (value as string | number | boolean | null);
  }
  return {
    objectType: event.object_type,
    objectId: event.object_id,
    aspectType: event.aspect_type,
    ownerId: event.owner_id,
    subscriptionId: event.subscription_id,
    eventTime: event.event_time,
    updates,
  };
}
