import type { Config } from '../../config.js';
import type { Db } from '../../db/connection.js';
import { clearStoredSubscription, getStoredSubscription, storeSubscription } from '../../db/repositories/webhook-subscription.js';
import type { StravaClient } from '../../strava/client.js';
import { StravaBadRequestError, StravaError } from '../../strava/errors.js';
import type { PushSubscription } from '../../strava/schemas.js';
import { webhookCallbackUrl } from '../webhooks/paths.js';
import type { CreateSubscriptionResult, DeleteSubscriptionResult, SubscriptionView } from './schemas.js';

export type PushSubscriptionApi = Pick<StravaClient, 'createPushSubscription' | 'listPushSubscriptions' | 'deletePushSubscription'>;

export interface SubscriptionServiceDeps {
  strava: PushSubscriptionApi;
  sql: Db;
  config: Pick<Config, 'PUBLIC_URL' | 'STRAVA_WEBHOOK_PATH_TOKEN' | 'STRAVA_WEBHOOK_VERIFY_TOKEN'>;
}

/** A failure the caller should see as it is; `status` is the HTTP status the admin route answers with. */
export class SubscriptionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SubscriptionError';
  }
}

/**
 * The application's one Strava push subscription: view, create (Strava runs its GET handshake against
 * PUBLIC_URL + the webhook path before answering, so the API must be reachable there), replace, delete.
 * The id is also stored in webhook_subscription, which is what the receiver compares events against.
 * Used by /admin/subscription and by `strava-sync subscription`.
 */
export function createSubscriptionService(deps: SubscriptionServiceDeps) {
  const { strava, sql, config } = deps;
  const callbackUrl = webhookCallbackUrl(config);
  const describe = (s: PushSubscription) => ({
    id: s.id,
    callbackUrl: s.callback_url,
    createdAt: s.created_at ?? null,
    matchesThisDeployment: s.callback_url === callbackUrl,
  });

  async function current(): Promise<PushSubscription | undefined> {
    const list = await callStrava('list the push subscription', () => strava.listPushSubscriptions());
    return list[0];
  }

  return {
    callbackUrl,

    async view(): Promise<SubscriptionView> {
      const [subscription, stored] = await Promise.all([current(), getStoredSubscription(sql)]);
      let message: string;
      if (!subscription) message = 'No push subscription: create one with POST /admin/subscription (or `strava-sync subscription create`).';
      else if (subscription.callback_url !== callbackUrl)
        message = `Strava's subscription ${subscription.id} delivers to ${subscription.callback_url}, not to this deployment (${callbackUrl}). Replace it with POST /admin/subscription?replace=true (or \`strava-sync subscription create --replace\`).`;
      else if (stored?.subscriptionId !== subscription.id)
        message = `Subscription ${subscription.id} delivers here but is not recorded locally; POST /admin/subscription records it.`;
      else message = `Subscription ${subscription.id} delivers to this deployment.`;
      return {
        callbackUrl,
        subscription: subscription ? describe(subscription) : null,
        recordedSubscriptionId: stored?.subscriptionId ?? null,
        message,
      };
    },

    async create(options: { replace?: boolean } = {}): Promise<CreateSubscriptionResult> {
      const existing = await current();
      let replacedSubscriptionId: number | null = null;
      if (existing && existing.callback_url === callbackUrl) {
        await storeSubscription(sql, existing.id, existing.callback_url);
        return { created: false, replacedSubscriptionId, subscription: describe(existing) };
      }
      if (existing) {
        if (!options.replace) {
          throw new SubscriptionError(
            409,
            'subscription_exists',
            `Strava already has subscription ${existing.id} for this application, delivering to ${existing.callback_url}; this deployment's callback is ${callbackUrl}. Strava allows one subscription per application: replace it with POST /admin/subscription?replace=true (or \`strava-sync subscription create --replace\`).`,
          );
        }
        await callStrava('delete the old push subscription', () => strava.deletePushSubscription(existing.id));
        await clearStoredSubscription(sql);
        replacedSubscriptionId = existing.id;
      }
      let created: PushSubscription;
      try {
        created = await strava.createPushSubscription({ callbackUrl, verifyToken: config.STRAVA_WEBHOOK_VERIFY_TOKEN });
      } catch (error) {
        if (error instanceof StravaBadRequestError) {
          const codes = error.errors.map((e) => e.code).filter(Boolean).join(', ');
          if (/already exists/i.test(codes)) {
            throw new SubscriptionError(409, 'subscription_exists', 'Strava reports a subscription already exists (created concurrently?); view it with GET /admin/subscription.');
          }
          throw new SubscriptionError(
            502,
            'handshake_failed',
            `Strava refused the subscription (${codes || error.message}). Strava verifies the callback with GET ${callbackUrl}?hub.mode=subscribe&...: check that PUBLIC_URL is where Strava reaches this API and that it answers within 2 s.`,
          );
        }
        throw toSubscriptionError('create the push subscription', error);
      }
      await storeSubscription(sql, created.id, created.callback_url);
      return { created: true, replacedSubscriptionId, subscription: describe(created) };
    },

    async delete(): Promise<DeleteSubscriptionResult> {
      const existing = await current();
      if (!existing) {
        await clearStoredSubscription(sql);
        throw new SubscriptionError(404, 'no_subscription', 'This application has no push subscription at Strava.');
      }
      await callStrava('delete the push subscription', () => strava.deletePushSubscription(existing.id));
      await clearStoredSubscription(sql);
      return { deletedSubscriptionId: existing.id };
    },
  };
}
export type SubscriptionService = ReturnType<typeof createSubscriptionService>;

async function callStrava<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toSubscriptionError(what, error);
  }
}

function toSubscriptionError(what: string, error: unknown): SubscriptionError | unknown {
  // StravaError messages name the endpoint path only, never the client secret the query carries.
  if (error instanceof StravaError) return new SubscriptionError(502, 'strava_error', `could not ${what}: ${error.message}`);
  return error;
}
