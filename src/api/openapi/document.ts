import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  adminAthletesQuerySchema,
  adminAthletesSchema,
  adminOverviewSchema,
  adminSyncBodySchema,
  syncBatchParamsSchema,
  syncBatchSchema,
} from '../admin/schemas.js';
import {
  acceptedSchema,
  activityPageQuerySchema,
  activityPageSchema,
  athleteIdParamsSchema,
  athleteStatusSchema,
  syncDoneSchema,
  syncIdParamsSchema,
  syncPendingSchema,
} from '../athletes/schemas.js';
import { callbackQuerySchema, connectedSchema, connectQuerySchema } from '../auth/schemas.js';
import { clientTokenBodySchema, clientTokenSchema } from '../auth/client-token-schemas.js';
import { changesPageSchema, changesQuerySchema, eventStreamQuerySchema } from '../changes/schemas.js';
import { resyncAcceptedSchema, resyncBodySchema } from '../athletes/resync-schemas.js';
import { errorBodySchema } from '../http/errors.js';
import { healthSchema, readinessSchema } from '../http/health.js';
import { handshakeQuerySchema, handshakeResponseSchema, webhookAckSchema, webhookEventSchema } from '../webhooks/event-schema.js';
import { WEBHOOK_BASE_PATH } from '../webhooks/paths.js';

/** Extra paths other modules document themselves (e.g. the subscription admin routes). */
export type OpenApiContribution = (registry: OpenAPIRegistry, shared: { errorResponse: (description: string) => object; adminSecurity: object[] }) => void;

/**
 * The OpenAPI 3.1 document, generated from the very zod schemas the routes parse with (no second copy).
 * Built once per app: the schemas do not change at run time.
 */
export function buildOpenApiDocument(options: { publicUrl: string; version: string; contributions?: OpenApiContribution[] }): object {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'adminKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'ADMIN_API_KEY',
  });
  const adminSecurity = [{ [bearer.name]: [] }];
  const clientToken = registry.registerComponent('securitySchemes', 'clientToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'Per-athlete client token from POST /athletes/{id}/client-tokens: valid on that athlete\'s routes only, for the abilities it was minted with (read, focus, sync, events), until it expires. On the event stream it may also be sent as ?access_token=.',
  });
  // Either credential: the admin key, or a client token of this athlete with the route's ability.
  const athleteSecurity = [...adminSecurity, { [clientToken.name]: [] }];
  const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
  const errorResponse = (description: string) => json(errorBodySchema, description);
  const authErrors = { 401: errorResponse('Missing or wrong admin key') };
  const idErrors = { 400: errorResponse('Id is not a positive integer'), 404: errorResponse('Unknown athlete'), ...authErrors };
  const clientErrors = {
    ...idErrors,
    401: errorResponse('Missing or wrong admin key, or a client token that is expired, tampered or not ours'),
    403: errorResponse("A client token of another athlete, or without this route's ability"),
  };
  const redirect = (description: string) => ({ description, headers: { Location: { schema: { type: 'string' as const } } } });

  // Health and documents
  registry.registerPath({ method: 'get', path: '/healthz', summary: 'Liveness', responses: { 200: json(healthSchema, 'The process is up') } });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: PostgreSQL and Temporal answer',
    responses: { 200: json(readinessSchema, 'Ready'), 503: json(readinessSchema, 'A dependency is down') },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
  });
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } },
  });

  // Webhooks (routes by the webhook module; documented from its schemas)
  registry.registerPath({
    method: 'get',
    path: WEBHOOK_BASE_PATH,
    summary: "Strava's subscription handshake",
    description: 'With STRAVA_WEBHOOK_PATH_TOKEN set, the path is /webhooks/strava/<token>.',
    request: { query: handshakeQuerySchema },
    responses: { 200: json(handshakeResponseSchema, 'Echoes hub.challenge'), 400: errorResponse('Missing or malformed parameters'), 403: errorResponse('Wrong verify token') },
  });
  registry.registerPath({
    method: 'post',
    path: WEBHOOK_BASE_PATH,
    summary: 'A Strava push event',
    description: 'Answered 200 only once the event is durably recorded (inbox row or accepted signal).',
    request: { body: { content: { 'application/json': { schema: webhookEventSchema } } } },
    responses: {
      200: json(webhookAckSchema, 'Always {"status": "received"}: recorded, duplicate, ignored (another subscription, an athlete not connected) and signalled alike, so the answer reveals nothing'),
      400: errorResponse('Malformed event'),
      413: errorResponse('Body over 16 KB'),
      429: errorResponse('Rate limited'),
      503: errorResponse('Neither PostgreSQL nor Temporal accepted the event: Strava retries'),
    },
  });

  // OAuth connect
  registry.registerPath({
    method: 'get',
    path: '/auth/strava',
    summary: "Redirect to Strava's consent page (scope read,activity:read_all)",
    request: { query: connectQuerySchema },
    responses: { 302: redirect('To Strava'), 400: errorResponse('return_to not allowed'), 429: errorResponse('Rate limited') },
  });
  registry.registerPath({
    method: 'get',
    path: '/auth/strava/callback',
    summary: 'OAuth callback: verify state, exchange the code, store tokens, start the sync',
    request: { query: callbackQuerySchema },
    responses: {
      200: json(connectedSchema, 'Connected (no return_to)'),
      303: redirect('Back to return_to with strava=connected or strava=error&error=<code>'),
      400: errorResponse('Bad, expired or replayed state, or a state not started in this browser (strava_sync_oauth cookie); invalid_code (Strava refused the code)'),
      403: errorResponse('access_denied, or insufficient_scope (no activity read scope granted)'),
      429: errorResponse('Rate limited'),
      502: errorResponse('Strava did not complete the exchange'),
      503: errorResponse("temporal_unavailable (connected, sync not started), or service_misconfigured (Strava refused the application's credentials; nothing stored)"),
    },
  });

  // Athletes
  const athletePath = (path: string) => `/athletes/{id}${path}`;
  registry.registerPath({
    method: 'get',
    path: athletePath(''),
    summary: "Sync status (the workflow's status query; from the database if the workflow is closed or absent)",
    security: athleteSecurity,
    request: { params: athleteIdParamsSchema },
    responses: { 200: json(athleteStatusSchema, 'Status'), ...clientErrors },
  });
  registry.registerPath({
    method: 'get',
    path: athletePath('/activities'),
    summary: 'Synced activities, newest first, cursor paged',
    security: athleteSecurity,
    request: { params: athleteIdParamsSchema, query: activityPageQuerySchema },
    responses: { 200: json(activityPageSchema, 'One page'), ...clientErrors },
  });
  registry.registerPath({
    method: 'post',
    path: athletePath('/focus'),
    summary: 'The athlete opened the app: sync if the last sync is stale',
    security: athleteSecurity,
    request: { params: athleteIdParamsSchema },
    responses: { 202: json(acceptedSchema, 'Signalled'), 409: errorResponse('Athlete revoked'), 503: errorResponse('Temporal unavailable'), ...clientErrors },
  });
  registry.registerPath({
    method: 'post',
    path: athletePath('/pause'),
    summary: "Pause the athlete's auto sync: no Strava call (import, backfill, event fetches, focus, sync now) until resumed",
    description: 'Webhook events keep being recorded and are applied on resume. A sync now answers 409 sync_paused meanwhile.',
    security: adminSecurity,
    request: { params: athleteIdParamsSchema },
    responses: { 202: json(acceptedSchema, 'Signalled (status "pausing")'), 409: errorResponse('Athlete revoked'), 503: errorResponse('Temporal unavailable'), ...idErrors },
  });
  registry.registerPath({
    method: 'post',
    path: athletePath('/resume'),
    summary: 'Resume auto sync: one catch-up sync, then the events recorded meanwhile',
    description: 'A fleet-wide pause (PUT /admin/settings paused) still holds the athlete until it is lifted too.',
    security: adminSecurity,
    request: { params: athleteIdParamsSchema },
    responses: { 202: json(acceptedSchema, 'Signalled (status "resuming")'), 409: errorResponse('Athlete revoked'), 503: errorResponse('Temporal unavailable'), ...idErrors },
  });
  registry.registerPath({
    method: 'post',
    path: athletePath('/sync'),
    summary: 'Sync now (update-with-start); waits up to SYNC_NOW_WAIT',
    security: athleteSecurity,
    request: { params: athleteIdParamsSchema },
    responses: {
      200: json(syncDoneSchema, 'The sync result'),
      202: json(syncPendingSchema, 'Still running: GET outcomeUrl (also in Location)'),
      409: errorResponse('Athlete revoked (athlete_revoked), auto sync paused (sync_paused), or the workflow refused the sync (sync_failed)'),
      503: errorResponse('Temporal unavailable'),
      ...clientErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: athletePath('/sync/{syncId}'),
    summary: 'Outcome of a sync-now that outlived SYNC_NOW_WAIT',
    security: athleteSecurity,
    request: { params: syncIdParamsSchema },
    responses: { 200: json(syncDoneSchema, 'Done'), 202: json(syncPendingSchema, 'Still running'), ...clientErrors },
  });
  registry.registerPath({
    method: 'delete',
    path: athletePath(''),
    summary: 'Disconnect: the workflow deauthorizes at Strava and purges tokens and activities',
    security: adminSecurity,
    request: { params: athleteIdParamsSchema },
    responses: { 200: json(acceptedSchema, 'Already disconnected'), 202: json(acceptedSchema, 'Disconnecting'), 503: errorResponse('Temporal unavailable'), ...idErrors },
  });
  registry.registerPath({
    method: 'get',
    path: athletePath('/events'),
    summary: "Server-sent events: `change` whenever the athlete's data changes, replayed from Last-Event-ID (heartbeat comments in between)",
    description:
      'Events: `ready` (first; on a fresh stream its id is the current head), `change` (id: the change id, data: a Change), `reset` (the Last-Event-ID is older than CHANGE_LOG_RETENTION or unknown: refetch everything; its id is the current head), `shutdown`. Send the last id seen as the Last-Event-ID header (EventSource does) or ?lastEventId= to receive exactly the changes missed.',
    security: athleteSecurity,
    request: { params: athleteIdParamsSchema, query: eventStreamQuerySchema, headers: z.object({ 'last-event-id': z.string().optional().meta({ description: 'Resume after this change id' }) }) },
    responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...clientErrors },
  });

  registry.registerPath({
    method: 'post',
    path: athletePath('/resync'),
    summary: 'Range re-sync: list one window at Strava (background priority), upsert, remove what Strava no longer returns',
    description:
      "Queued in the athlete's workflow (at most 5 waiting); progress in GET /athletes/{id} (workflow.live.resync), the result in workflow.live.lastResync. It resumes where it was after a worker crash. Refused up front when the window needs more Strava requests than the background budget has left today (429 with Retry-After: the next UTC day) or than a whole day's background budget (422).",
    security: athleteSecurity,
    request: { params: athleteIdParamsSchema, body: { content: { 'application/json': { schema: resyncBodySchema } } } },
    responses: {
      202: json(resyncAcceptedSchema, 'Queued'),
      409: errorResponse('Athlete revoked'),
      422: errorResponse('The window is larger than a whole day of background budget: split it'),
      429: errorResponse("Not enough of today's background budget left; Retry-After says when it can run"),
      503: errorResponse('Temporal unavailable'),
      ...clientErrors,
    },
  });
  registry.registerPath({
    method: 'post',
    path: athletePath('/client-tokens'),
    summary: "Mint a client token for one athlete's app (admin key only)",
    description:
      "A JWT (HS256, key from CLIENT_TOKEN_KEYS) scoped to this athlete and the given abilities: read (status, activities), focus, sync (sync now, its outcome, range re-sync), events (the change stream). It expires after ttlSeconds (default 3600, at most CLIENT_TOKEN_MAX_TTL). Hand it to the athlete's browser or phone; never the admin key.",
    security: adminSecurity,
    request: { params: athleteIdParamsSchema, body: { content: { 'application/json': { schema: clientTokenBodySchema } } } },
    responses: { 201: json(clientTokenSchema, 'The token'), 409: errorResponse('Athlete revoked'), ...idErrors },
  });

  registry.registerPath({
    method: 'get',
    path: '/changes',
    summary: "Every athlete's changes after a cursor, oldest first (the app backend's feed; long poll with wait)",
    description: 'Each change exactly once, in commit order, across calls and API restarts: pass the answer\'s `next` as `after`. `reset: true` means the cursor is older than CHANGE_LOG_RETENTION (or unknown): refetch everything, then continue from `next`.',
    security: adminSecurity,
    request: { query: changesQuerySchema },
    responses: { 200: json(changesPageSchema, 'Changes'), 400: errorResponse('Malformed after, wait or limit'), ...authErrors },
  });

  // Admin
  registry.registerPath({
    method: 'get',
    path: '/admin',
    summary: 'Management page (HTML; the page asks for the admin key and calls the JSON routes)',
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/athletes',
    summary: 'Every athlete with state and last sync',
    security: adminSecurity,
    request: { query: adminAthletesQuerySchema },
    responses: { 200: json(adminAthletesSchema, 'Athletes'), 400: errorResponse('Unknown state'), ...authErrors },
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/overview',
    summary: 'Counts by state, webhook inbox, rate governor usage, subscription health (Strava asked when its stored answer is over a minute old)',
    security: adminSecurity,
    responses: { 200: json(adminOverviewSchema, 'Overview'), ...authErrors },
  });
  registry.registerPath({
    method: 'post',
    path: '/admin/sync',
    summary: 'Batch sync: every athlete or a list, quick or full, skipping recently synced ones; runs in the background with bounded concurrency',
    security: adminSecurity,
    request: { body: { content: { 'application/json': { schema: adminSyncBodySchema } } } },
    responses: {
      202: { ...json(syncBatchSchema, 'Started: the aggregate so far (poll statusUrl, also in Location)'), headers: { Location: { schema: { type: 'string' as const } } } },
      400: errorResponse('Malformed body'),
      ...authErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/sync/{batchId}',
    summary: 'The aggregate of a batch sync: started, skipped (by reason), succeeded, failed (by type), activities, tokens refreshed, requests, done',
    security: adminSecurity,
    request: { params: syncBatchParamsSchema },
    responses: { 200: json(syncBatchSchema, 'The aggregate'), 400: errorResponse('Not a batch id'), 404: errorResponse('Unknown batch'), ...authErrors },
  });

  for (const contribute of options.contributions ?? []) contribute(registry, { errorResponse, adminSecurity });

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'strava-sync API',
      version: options.version,
      description: "Keeps connected athletes' Strava activities synced into PostgreSQL, orchestrated by Temporal.",
    },
    servers: [{ url: options.publicUrl }],
  });
}
