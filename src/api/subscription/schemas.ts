import { z } from 'zod';

export const subscriptionSchema = z
  .object({
    id: z.number().int().meta({ description: "Strava's push subscription id" }),
    callbackUrl: z.string(),
    createdAt: z.string().nullable(),
    matchesThisDeployment: z.boolean().meta({ description: 'true when the callback is this deployment\'s PUBLIC_URL + webhook path' }),
  })
  .meta({ id: 'PushSubscription' });

export const subscriptionViewSchema = z
  .object({
    callbackUrl: z.string().meta({ description: 'The callback this deployment registers (PUBLIC_URL + webhook path)' }),
    subscription: subscriptionSchema.nullable().meta({ description: "The application's subscription at Strava, if any" }),
    recordedSubscriptionId: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'The id stored locally; incoming events with another subscription_id are ignored' }),
    message: z.string(),
  })
  .meta({ id: 'SubscriptionView' });
export type SubscriptionView = z.infer<typeof subscriptionViewSchema>;

export const createSubscriptionQuerySchema = z.object({
  replace: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true')
    .meta({ description: 'Delete a subscription with another callback first' }),
});

export const createSubscriptionResultSchema = z
  .object({
    created: z.boolean().meta({ description: 'false when a subscription with this callback already existed' }),
    replacedSubscriptionId: z.number().int().nullable(),
    subscription: subscriptionSchema,
  })
  .meta({ id: 'SubscriptionCreated' });
export type CreateSubscriptionResult = z.infer<typeof createSubscriptionResultSchema>;

export const deleteSubscriptionResultSchema = z
  .object({ deletedSubscriptionId: z.number().int() })
  .meta({ id: 'SubscriptionDeleted' });
export type DeleteSubscriptionResult = z.infer<typeof deleteSubscriptionResultSchema>;

export const subscriptionHealthViewSchema = z
  .object({
    expectedCallbackUrl: z.string().meta({ description: "This deployment's callback (PUBLIC_URL + webhook path)" }),
    checkedAt: z.iso.datetime().meta({ description: 'When Strava was last asked (answers are reused for at most a minute)' }),
    answeredAt: z.iso.datetime().nullable().meta({ description: 'When Strava last answered; the fields below are as of then' }),
    error: z.string().nullable().meta({ description: 'Why the last attempt got no answer' }),
    exists: z.boolean().nullable().meta({ description: 'Strava lists a subscription for this application (null: never answered)' }),
    subscriptionId: z.number().int().nullable(),
    callbackUrl: z.string().nullable(),
    matchesThisDeployment: z.boolean().nullable().meta({ description: "The subscription's callback is this deployment's" }),
    recordedSubscriptionId: z.number().int().nullable().meta({ description: 'The id events must carry to be accepted' }),
    healthy: z.boolean().meta({ description: 'Strava delivers here under the recorded id' }),
    lastWebhookAt: z.iso
      .datetime()
      .nullable()
      .meta({ description: 'The newest genuine event (accepted: the recorded subscription id, a connected athlete); null: none within WEBHOOK_INBOX_RETENTION' }),
    lastWebhookAgeSeconds: z.number().int().nullable(),
  })
  .meta({ id: 'SubscriptionHealth' });
export type SubscriptionHealthView = z.infer<typeof subscriptionHealthViewSchema>;
