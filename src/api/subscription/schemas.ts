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
