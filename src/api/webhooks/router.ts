import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { recordEvent, type InboxEventInput, type RecordOptions, type RecordResult } from '../../db/repositories/webhook-inbox.js';
import type { EventForwarder } from '../../temporal/athlete-gateway.js';
import { describeIssues, errorBody } from '../http/errors.js';
import { withTimeout } from '../http/timeout.js';
import { classifyDatabaseError, errorCode } from './database-errors.js';
import { createInboxBatcher, InboxBusyError, type InboxBatcherOptions } from './inbox-batcher.js';
import { handshakeQuerySchema, titleDigest, toInboxInput, WEBHOOK_ACK, webhookEventSchema, type WebhookAck } from './event-schema.js';
import { toEventSignal } from './event-signal.js';
import { webhookAckSeconds, webhookEventsIgnored, webhookEventsReceived } from './metrics.js';
import { WEBHOOK_BASE_PATH, webhookCallbackPath } from './paths.js';

/** Strava's event bodies are a few hundred bytes; anything near this is not from Strava. */
export const WEBHOOK_BODY_LIMIT_BYTES = 16 * 1024;

export interface WebhookRouterDeps {
  config: Pick<Config, 'STRAVA_WEBHOOK_VERIFY_TOKEN' | 'STRAVA_WEBHOOK_PATH_TOKEN' | 'TOKEN_ENCRYPTION_KEY'>;
  sql: Sql;
  forwarder: EventForwarder;
  /** Called after a row is committed as pending: the relay forwards it (relay.nudge). */
  onRecorded?: () => void;
  logger?: Pick<Logger, 'warn' | 'error'>;
  /**
   * How long the receiver waits for PostgreSQL before treating it as down and signalling the workflow directly.
   * Strava gives up after 2 s, so both this and the forwarder's deadline must fit well inside that.
   */
  recordTimeoutMs?: number;
  /**
   * Ignore every event while no subscription is stored (production). Otherwise (development, tests) the
   * subscription check is skipped until one is stored.
   */
  requireSubscription?: boolean;
  /** Inbox bounds (tests shrink them). */
  inbox?: Pick<RecordOptions, 'ignoredSampleSize' | 'maxPendingPerAthlete'>;
  /** The server clock that event times are clamped to. */
  now?: () => number;
  /** Group commit of inbox rows (inbox-batcher.ts); false records each event in its own statement. */
  groupCommit?: Pick<InboxBatcherOptions, 'maxBatch' | 'maxInFlight' | 'maxWaiting'> | false;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * GET/POST /webhooks/strava (or /webhooks/strava/<STRAVA_WEBHOOK_PATH_TOKEN>). Every other path under
 * /webhooks/strava answers 404, before its body is read.
 */
export function createWebhookRouter(deps: WebhookRouterDeps): Router {
  const { sql, forwarder, logger } = deps;
  const recordTimeoutMs = deps.recordTimeoutMs ?? 1_000;
  const requireSubscription = deps.requireSubscription ?? false;
  const recordOptions: RecordOptions = { requireSubscription, ...deps.inbox };
  const now = deps.now ?? Date.now;
  const record =
    deps.groupCommit === false
      ? (event: InboxEventInput) => recordEvent(sql, event, recordOptions)
      : createInboxBatcher({ sql, record: recordOptions, ...deps.groupCommit }).record;
  /**
   * The subscription id PostgreSQL last reported (null: none stored; undefined: not yet heard). While PostgreSQL
   * is unreachable this is the only way to keep a foreign subscription's events out of the direct signal.
   */
  let lastStoredSubscription: { id: number | null } | undefined;
  const directSignalAllowed = (subscriptionId: number): boolean => {
    if (!lastStoredSubscription) return false;
    if (lastStoredSubscription.id === null) return !requireSubscription;
    return lastStoredSubscription.id === subscriptionId;
  };
  const path = webhookCallbackPath(deps.config);
  const expectedVerifyToken = digest(deps.config.STRAVA_WEBHOOK_VERIFY_TOKEN);
  const digestTitle = titleDigest(deps.config.TOKEN_ENCRYPTION_KEY);
  const router = express.Router();

  // Strava sends application/json, but a missing or odd content type should not turn a real event into a 400.
  const parseBody = express.json({ limit: WEBHOOK_BODY_LIMIT_BYTES, type: () => true, strict: true });

  router.get(path, (req, res) => {
    const query = handshakeQuerySchema.safeParse(req.query);
    if (!query.success) {
      res.status(400).json(errorBody('invalid_handshake', 'expected hub.mode=subscribe, hub.challenge and hub.verify_token query parameters'));
      return;
    }
    if (!timingSafeEqual(digest(query.data['hub.verify_token']), expectedVerifyToken)) {
      res.status(403).json(errorBody('forbidden', 'hub.verify_token does not match STRAVA_WEBHOOK_VERIFY_TOKEN'));
      return;
    }
    res.status(200).json({ 'hub.challenge': query.data['hub.challenge'] });
  });

  router.post(path, parseBody, async (req: Request, res: Response) => {
    const stopTimer = webhookAckSeconds.startTimer();
    const ack = (status: number, body: WebhookAck | ReturnType<typeof errorBody>, result: string) => {
      webhookEventsReceived.inc({ result });
      res.status(status).json(body);
      stopTimer();
    };

    const parsed = webhookEventSchema.safeParse(req.body);
    if (!parsed.success) {
      ack(400, errorBody('invalid_event', `not a Strava webhook event: ${describeIssues(parsed.error, 'body')}`), 'rejected');
      return;
    }
    const event = parsed.data;
    const receivedAt = now();
    const inbox = toInboxInput(event, digestTitle, receivedAt);

    let recorded: RecordResult;
    try {
      recorded = await withTimeout(record(inbox), recordTimeoutMs);
    } catch (dbError) {
      if (dbError instanceof InboxBusyError) {
        // Not PostgreSQL's failure but a backlog: the direct signal would only move the flood to Temporal.
        logger?.warn({ waiting: dbError.waiting, ownerId: event.owner_id }, 'webhook: too many events waiting to be recorded; answering 503');
        res.set('Retry-After', '60');
        ack(503, errorBody('busy', 'too many webhook events are waiting to be recorded; retry later'), 'busy');
        return;
      }
      const failure = classifyDatabaseError(dbError);
      const code = errorCode(dbError) ?? (dbError instanceof Error ? dbError.name : 'unknown');
      if (failure === 'bad_input') {
        logger?.warn({ code, ownerId: event.owner_id }, 'webhook: PostgreSQL refused a value of the event; answering 400');
        ack(400, errorBody('invalid_event', 'the event holds a value that cannot be stored'), 'rejected');
        return;
      }
      if (failure === 'other') {
        logger?.error({ code, ownerId: event.owner_id }, 'webhook: recording the event failed; answering 500, not forwarded');
        ack(500, errorBody('internal', 'the event could not be recorded'), 'failed');
        return;
      }
      // PostgreSQL is unreachable. Temporal accepting the signal is durable too, but only for an event of the
      // subscription PostgreSQL last reported (the database's other checks cannot run): anything else gets a 503,
      // which makes Strava retry (three tries in all, a minute or two apart).
      if (!directSignalAllowed(event.subscription_id)) {
        logger?.warn({ code, ownerId: event.owner_id }, 'webhook: database unavailable and the subscription is not known to match; answering 503');
        res.set('Retry-After', '60');
        ack(503, errorBody('unavailable', 'the event could not be recorded; retry later'), 'unavailable');
        return;
      }
      try {
        await forwarder.deliverToRunning(toEventSignal({ ...inbox, receivedAt }));
        logger?.warn({ code, ownerId: event.owner_id }, 'webhook: database unavailable; signalled the running workflow directly');
        ack(200, WEBHOOK_ACK, 'forwarded_without_inbox');
      } catch (temporalError) {
        logger?.error(
          { code, temporalError: errorCode(temporalError) ?? String(temporalError), ownerId: event.owner_id },
          'webhook: neither PostgreSQL nor Temporal accepted the event; answering 503',
        );
        res.set('Retry-After', '60');
        ack(503, errorBody('unavailable', 'the event could not be recorded; retry later'), 'unavailable');
      }
      return;
    }

    lastStoredSubscription = { id: recorded.storedSubscriptionId };
    // One answer for all three: whether an id matched or an athlete is connected is nobody's business but ours.
    if (recorded.kind === 'duplicate') {
      ack(200, WEBHOOK_ACK, 'duplicate');
      return;
    }
    if (recorded.outcome === 'ignored') {
      webhookEventsIgnored.inc({ reason: recorded.ignoreReason });
      ack(200, WEBHOOK_ACK, 'ignored');
      return;
    }
    ack(200, WEBHOOK_ACK, 'recorded');
    deps.onRecorded?.();
  });

  router.all(`${WEBHOOK_BASE_PATH}{/*rest}`, (req, res) => {
    res.status(404).json(errorBody('not_found', `no route for ${req.method} ${req.path}`));
  });

  const bodyErrors: ErrorRequestHandler = (error: { type?: string }, _req, res, next) => {
    if (error?.type === 'entity.too.large') {
      webhookEventsReceived.inc({ result: 'rejected' });
      res.status(413).json(errorBody('payload_too_large', `webhook bodies are limited to ${WEBHOOK_BODY_LIMIT_BYTES} bytes`));
      return;
    }
    if (error?.type === 'entity.parse.failed') {
      webhookEventsReceived.inc({ result: 'rejected' });
      res.status(400).json(errorBody('invalid_json', 'webhook body is not a JSON object'));
      return;
    }
    next(error);
  };
  router.use(bodyErrors);
  return router;
}
