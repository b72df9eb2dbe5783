import { createHmac, hkdfSync } from 'node:crypto';
import { z } from 'zod';
import { clampEventTime } from '../../domain/event-time.js';
import { WEBHOOK_ASPECT_TYPES, WEBHOOK_OBJECT_TYPES } from '../../domain/sync-types.js';
import type { InboxEvent } from '../../db/repositories/webhook-inbox.js';

/** Strava ids are positive integers that exceed 2^31 but stay below 2^53. */
const stravaId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * PostgreSQL stores neither NUL characters nor unpaired UTF-16 surrogates in text or jsonb: such a string would
 * fail the inbox insert. No Strava event holds one, so the schema refuses them (400) before anything is stored.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storableString = (max: number) =>
  z.string().max(max).refine((text) => !UNSTORABLE.test(text), {
    message: 'contains a NUL character or an unpaired UTF-16 surrogate',
  });

/** Strava sends booleans inside `updates` as the strings "true"/"false"; accept real booleans too. */
const stringBoolean = z.union([z.enum(['true', 'false']), z.boolean()]).transform((value) => value === true || value === 'true');

/** Strava's keys are short snake_case words (title, type, private, authorized); `_`-first keys (__proto__) are not. */
export const UPDATE_KEY_PATTERN = /^[a-z][a-z_]{0,39}$/;
export const MAX_UPDATE_KEYS = 8;

/**
 * The `updates` object: title/type/private on activity updates, authorized on athlete updates, `{}` on
 * create/delete. Unknown keys are kept (Strava may add fields) as long as they are scalars, their names short
 * snake_case, and there are at most MAX_UPDATE_KEYS of them.
 */
export const webhookUpdatesSchema = z
  .object({
    title: storableString(2_000).optional(),
    type: storableString(100).optional(),
    private: stringBoolean.optional(),
    authorized: stringBoolean.optional(),
  })
  .catchall(z.union([storableString(2_000), z.number(), z.boolean(), z.null()]))
  // zod never copies an own `__proto__` key into its output, so what is checked here is all that is stored.
  .superRefine((updates, ctx) => {
    const keys = Object.keys(updates);
    if (keys.length > MAX_UPDATE_KEYS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_UPDATE_KEYS} keys` });
    for (const key of keys.filter((k) => !UPDATE_KEY_PATTERN.test(k)).slice(0, 3)) {
      ctx.addIssue({ code: 'custom', path: [key.slice(0, 40)], message: 'key names are lower-case letters and underscores (at most 40)' });
    }
  })
  .meta({ maxProperties: MAX_UPDATE_KEYS, propertyNames: { pattern: UPDATE_KEY_PATTERN.source } });

/** A Strava push event (docs/strava-api.md, "Webhooks"). Some senders omit `updates`; null counts as missing. */
export const webhookEventSchema = z
  .object({
    object_type: z.enum(WEBHOOK_OBJECT_TYPES),
    object_id: stravaId,
    aspect_type: z.enum(WEBHOOK_ASPECT_TYPES),
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

/**
 * The one answer to every accepted event, whether it was recorded, a duplicate, ignored (another subscription, an
 * athlete who is not connected) or signalled directly: a different answer would tell a forger which ids are real.
 */
export const webhookAckSchema = z.object({ status: z.literal('received') });
export const WEBHOOK_ACK: WebhookAck = { status: 'received' };
export type WebhookAck = z.infer<typeof webhookAckSchema>;

/**
 * How a title is stored: as a keyed digest, never the text. The inbox must tell two different renames apart (two
 * apps renaming one activity within a second) and still collapse Strava's byte-identical retries; the key keeps
 * the digest of a common title ("Morning Run") from being looked up.
 */
export type TitleDigest = (title: string) => string;

/** The digest keyed by a secret of this deployment (derived, so the secret itself is never used as an HMAC key). */
export function titleDigest(secret: Buffer): TitleDigest {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'strava-sync webhook title digest', 32));
  return (title) => `redacted:${createHmac('sha256', key).update(title).digest('hex').slice(0, 16)}`;
}

/**
 * The inbox row for an event received at `receivedAtMs`: its time as sent (identity) and clamped (applied). An event
 * time is Strava's claim, not a fact: one from the future counts as the moment it arrived (server clock, whole
 * seconds); one from the past is kept as sent.
 */
export function toInboxInput(event: WebhookEvent, digestTitle: TitleDigest, receivedAtMs = Date.now()): InboxEvent {
  const updates: InboxEvent['updates'] = {};
  for (const [key, value] of Object.entries(event.updates)) {
    if (value === undefined) continue;
    updates[key] = key === 'title' && typeof value === 'string' ? digestTitle(value) : value;
  }
  return {
    objectType: event.object_type,
    objectId: event.object_id,
    aspectType: event.aspect_type,
    ownerId: event.owner_id,
    subscriptionId: event.subscription_id,
    eventTime: event.event_time,
    appliedEventTime: clampEventTime(event.event_time, receivedAtMs),
    updates,
  };
}
