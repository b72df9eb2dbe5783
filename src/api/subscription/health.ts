import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Db } from '../../db/connection.js';
import {
  claimSubscriptionCheck,
  expireSubscriptionCheck,
  lastGenuineWebhookAt,
  readSubscriptionCheck,
  recordSubscriptionAnswer,
  recordSubscriptionCheckFailure,
  type SubscriptionCheckRow,
} from '../../db/repositories/subscription-health.js';
import { getStoredSubscription } from '../../db/repositories/webhook-subscription.js';
import { webhookCallbackUrl } from '../webhooks/paths.js';
import type { SubscriptionHealthView } from './schemas.js';
import type { PushSubscriptionApi } from './service.js';

/** The management page asks Strava itself when the stored answer is older than this. */
export const LOOK_MAX_AGE_MS = 60_000;
/** How long a caller waits for the answer another process is getting (then it takes the stored one). */
const OTHERS_ANSWER_WAIT_MS = 5_000;

export interface SubscriptionHealthDeps {
  sql: Db;
  strava: Pick<PushSubscriptionApi, 'listPushSubscriptions'>;
  config: Pick<Config, 'PUBLIC_URL' | 'STRAVA_WEBHOOK_PATH_TOKEN' | 'SUBSCRIPTION_CHECK_INTERVAL'>;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  now?: () => number;
  /** How old a stored answer the page accepts (default LOOK_MAX_AGE_MS; tests shorten it). */
  lookMaxAgeMs?: number;
}

/**
 * Whether Strava still delivers webhooks here. Strava may drop a subscription on its side (an application reset,
 * a callback that kept failing): nothing tells us, events just stop. So the subscription list is looked at
 * periodically (one request per SUBSCRIPTION_CHECK_INTERVAL for the whole deployment: every API instance runs
 * the timer, but the answer is shared in PostgreSQL and only an expired one is refreshed) and whenever someone
 * looks at the page (an answer at most a minute old). The page also shows when the last genuine event arrived.
 */
export function createSubscriptionHealth(deps: SubscriptionHealthDeps) {
  const { sql, strava, config, logger } = deps;
  const now = deps.now ?? Date.now;
  const expectedCallbackUrl = webhookCallbackUrl(config);
  const intervalMs = config.SUBSCRIPTION_CHECK_INTERVAL;
  // Ticks several times per interval and refreshes an answer older than (interval - tick): however the answers
  // of the page and of other instances fall, no gap between two answers exceeds the interval.
  const tickMs = Math.max(100, Math.floor(intervalMs / 12));
  let inflight: Promise<SubscriptionCheckRow> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<unknown> | undefined;

  const delivers = (row: Pick<SubscriptionCheckRow, 'subscriptionId' | 'callbackUrl'> | undefined) =>
    row?.subscriptionId != null && row.callbackUrl === expectedCallbackUrl;

  async function askStrava(previous: SubscriptionCheckRow | undefined, at: Date): Promise<SubscriptionCheckRow> {
    try {
      const [found] = await strava.listPushSubscriptions();
      const subscription = found ? { id: found.id, callbackUrl: found.callback_url } : null;
      await recordSubscriptionAnswer(sql, at, subscription);
      const row = { checkedAt: at, answeredAt: at, subscriptionId: subscription?.id ?? null, callbackUrl: subscription?.callbackUrl ?? null, error: null };
      if (delivers(previous) && !delivers(row)) {
        logger?.error(
          { subscriptionId: previous!.subscriptionId, now: subscription?.id ?? null },
          'Strava no longer delivers webhooks here: the push subscription is gone or points elsewhere; create it again (POST /admin/subscription)',
        );
      } else if (previous?.answeredAt && !delivers(previous) && delivers(row)) {
        logger?.info({ subscriptionId: row.subscriptionId }, 'Strava delivers webhooks here again');
      }
      return row;
    } catch (error) {
      // Messages of Strava errors name the endpoint path only, never the client secret of the query.
      const message = error instanceof Error ? error.message : String(error);
      logger?.warn({ err: message }, 'could not list the push subscription at Strava');
      await recordSubscriptionCheckFailure(sql, at, message);
      return { ...(previous ?? { answeredAt: null, subscriptionId: null, callbackUrl: null }), checkedAt: at, error: message };
    }
  }

  /**
   * The stored answer if it is younger than maxAgeMs, otherwise Strava's: one request, shared by the callers in this
   * process, and only by the process that claims the turn in PostgreSQL (the others keep the stored answer, which
   * the claimant is refreshing that moment).
   */
  async function check(maxAgeMs: number): Promise<SubscriptionCheckRow> {
    if (inflight) return inflight;
    const stored = await readSubscriptionCheck(sql);
    // A turn claimed a moment ago (here or elsewhere) whose answer is on its way counts as fresh: wait for it.
    if (stored && now() - stored.checkedAt.getTime() < maxAgeMs) return asking(stored) ? othersAnswer() : stored;
    inflight ??= (async () => {
      const at = new Date(now());
      if (await claimSubscriptionCheck(sql, at, new Date(at.getTime() - maxAgeMs))) return askStrava(stored, at);
      return othersAnswer();
    })().finally(() => (inflight = undefined));
    return inflight;
  }

  /** Someone claimed the turn and has not recorded Strava's answer (or a failure) yet. */
  const asking = (row: SubscriptionCheckRow) => row.error === null && (row.answeredAt?.getTime() ?? 0) < row.checkedAt.getTime();

  /** Another process claimed the turn: its answer lands within a request's time; wait for it a little. */
  async function othersAnswer(): Promise<SubscriptionCheckRow> {
    const deadline = Date.now() + OTHERS_ANSWER_WAIT_MS;
    for (;;) {
      const row = await readSubscriptionCheck(sql);
      if (row && (!asking(row) || Date.now() > deadline)) return row;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  function tick(): void {
    ticking = check(intervalMs - tickMs)
      .catch((error: unknown) => logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'subscription check failed'))
      .finally(() => (ticking = undefined));
  }

  return {
    expectedCallbackUrl,
    check,

    /** What the page and /admin/overview show: Strava's answer at most a minute old, the recorded id, the last event. */
    async view(): Promise<SubscriptionHealthView> {
      const [row, stored, lastWebhookAt] = await Promise.all([
        check(deps.lookMaxAgeMs ?? LOOK_MAX_AGE_MS),
        getStoredSubscription(sql),
        lastGenuineWebhookAt(sql),
      ]);
      const answered = row.answeredAt !== null;
      const recordedSubscriptionId = stored?.subscriptionId ?? null;
      return {
        expectedCallbackUrl,
        checkedAt: row.checkedAt.toISOString(),
        answeredAt: row.answeredAt?.toISOString() ?? null,
        error: row.error,
        exists: answered ? row.subscriptionId !== null : null,
        subscriptionId: row.subscriptionId,
        callbackUrl: row.callbackUrl,
        matchesThisDeployment: answered && row.subscriptionId !== null ? row.callbackUrl === expectedCallbackUrl : null,
        recordedSubscriptionId,
        healthy: answered && delivers(row) && row.subscriptionId === recordedSubscriptionId,
        lastWebhookAt: lastWebhookAt?.toISOString() ?? null,
        lastWebhookAgeSeconds: lastWebhookAt ? Math.max(0, Math.round((now() - lastWebhookAt.getTime()) / 1000)) : null,
      };
    },

    /** 1 when Strava's last answer lists a subscription delivering here under the recorded id; undefined before any answer. */
    async up(): Promise<number | undefined> {
      const [row, stored] = await Promise.all([readSubscriptionCheck(sql), getStoredSubscription(sql)]);
      if (!row?.answeredAt) return undefined;
      return delivers(row) && row.subscriptionId === stored?.subscriptionId ? 1 : 0;
    },

    /** After a create or delete through this API: the next look asks Strava. */
    expire: () => expireSubscriptionCheck(sql),

    /** Starts the periodic check (now, then every tick). */
    start(): void {
      if (timer) return;
      tick();
      timer = setInterval(() => {
        if (!ticking) tick();
      }, tickMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      clearInterval(timer);
      timer = undefined;
      await ticking;
    },
  };
}
export type SubscriptionHealth = ReturnType<typeof createSubscriptionHealth>;
