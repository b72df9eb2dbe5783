/**
 * Strava API v3 endpoints the sync service uses. Every response carries the rate-limit headers; the faults
 * (403 inactive app, forced 429, random 5xx) are applied after the request is counted, as Strava counts
 * refused requests too.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './context.js';
import { FAULTS, badParameter } from './faults.js';
import { readParams, sendEmpty, sendJson } from './http.js';
import { detailedAthleteJson, detailJson, summaryJson } from './serialize.js';
import type { AccessTokenRecord } from './tokens.js';
import type { PushSubscription } from './webhooks.js';

const ACTIVITY_PATH = /^\/api\/v3\/activities\/(\d+)$/;
const SUBSCRIPTION_PATH = /^\/api\/v3\/push_subscriptions\/(\d+)$/;
/** Above this, an epoch value is milliseconds (year 5138 in seconds): Strava answers 400. */
const MAX_EPOCH_SECONDS = 99_999_999_999;
/** Encoded list pages kept per athlete (a full sync reads each page once; the benchmark reads one many times). */
const LIST_CACHE_ENTRIES = 32;

export function routeName(method: string, path: string): string {
  if (path === '/api/v3/athlete' || path === '/api/v3/athlete/activities' || path === '/api/v3/push_subscriptions') return `${method} ${path}`;
  if (ACTIVITY_PATH.test(path)) return `${method} /api/v3/activities/{id}`;
  if (SUBSCRIPTION_PATH.test(path)) return `${method} /api/v3/push_subscriptions/{id}`;
  return `${method} (unknown)`;
}

function bearer(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header) return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  return url.searchParams.get('access_token') ?? undefined;
}

const hasActivityScope = (token: AccessTokenRecord) => token.scopes.has('activity:read') || token.scopes.has('activity:read_all');

export async function handleApi(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
  const now = ctx.clock.now();
  const forced = ctx.faults.rateLimitedUntil !== null && now < ctx.faults.rateLimitedUntil;
  const decision = ctx.rateLimiter.hit(now, forced);
  const headers = decision.headers;
  const reply = (status: number, body: string | Buffer) => {
    sendJson(res, status, body, headers);
    return status;
  };
  if (ctx.faults.appInactive) {
    ctx.counters.forbidden++;
    return reply(403, FAULTS.appInactive);
  }
  if (decision.limited) {
    ctx.counters.rateLimited++;
    if (forced) ctx.counters.rateLimitedForced++;
    return reply(429, FAULTS.rateLimited);
  }
  // Drawn on every call so the sequence of decisions depends only on the seed and the request order.
  if (ctx.faultRandom() < ctx.faults.apiErrorRate) {
    ctx.counters.serverErrors++;
    return reply(ctx.faults.apiErrorStatus, FAULTS.serverError);
  }

  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (path.startsWith('/api/v3/push_subscriptions')) return pushSubscriptions(ctx, req, res, url, headers);

  // Strava's recorded variants (faults): a 401 naming the Application and a 404 with an empty body, both
  // recorded without rate-limit headers.
  const unauthorized = () => {
    if (ctx.faults.unauthorizedVariant === 'application') {
      sendJson(res, 401, FAULTS.invalidTokenApplication);
      return 401;
    }
    return reply(401, FAULTS.invalidToken);
  };
  const notFound = () => {
    if (ctx.faults.notFoundEmptyBody) {
      sendEmpty(res, 404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '0' });
      return 404;
    }
    return reply(404, FAULTS.activityNotFound);
  };

  const tokenText = bearer(req, url);
  const token = tokenText ? ctx.tokens.authenticate(tokenText, Math.floor(now / 1000)) : undefined;
  if (!token) return unauthorized();

  if (method === 'GET' && path === '/api/v3/athlete') {
    const athlete = ctx.store.athletes.get(token.athleteId);
    if (!athlete) return unauthorized();
    // Swagger, GET /athlete: "Tokens with profile:read_all scope will receive a detailed athlete
    // representation; all others will receive a summary representation."
    return reply(200, token.scopes.has('profile:read_all') ? detailedAthleteJson(athlete) : JSON.stringify(athlete.profile));
  }

  if (method === 'GET' && path === '/api/v3/athlete/activities') {
    if (!hasActivityScope(token)) return reply(401, FAULTS.missingActivityScope);
    const athlete = ctx.store.athletes.get(token.athleteId);
    if (!athlete) return unauthorized();
    const q = url.searchParams;
    const epoch = (name: 'before' | 'after'): number | undefined | null => {
      const text = q.get(name);
      if (text === null || text === '') return undefined;
      if (!/^\d+$/.test(text)) return null;
      const value = Number(text);
      return value > MAX_EPOCH_SECONDS ? null : value;
    };
    const before = epoch('before');
    if (before === null) return reply(400, badParameter('Application', 'before'));
    const after = epoch('after');
    if (after === null) return reply(400, badParameter('Application', 'after'));
    const positive = (name: string, fallback: number): number | null => {
      const text = q.get(name);
      if (text === null || text === '') return fallback;
      if (!/^\d+$/.test(text)) return null;
      return Math.max(1, Number(text));
    };
    const page = positive('page', 1);
    if (page === null) return reply(400, badParameter('Application', 'page'));
    const perPage = positive('per_page', 30);
    if (perPage === null) return reply(400, badParameter('Application', 'per_page'));
    const readAll = token.scopes.has('activity:read_all');
    const query = { before, after, page, perPage: Math.min(perPage, 200), readAll };
    const key = `${before}|${after}|${page}|${query.perPage}|${readAll}`;
    let body = athlete.listCache.get(key);
    if (!body) {
      const list = ctx.store.listActivities(athlete, query, now);
      let text = '[';
      for (let i = 0; i < list.length; i++) text += (i ? ',' : '') + summaryJson(list[i]!);
      body = Buffer.from(text + ']');
      // While an activity is still processing, the same query can change with time alone: do not cache.
      if (now >= athlete.processingUntilMs) {
        if (athlete.listCache.size >= LIST_CACHE_ENTRIES) athlete.listCache.clear();
        athlete.listCache.set(key, body);
      }
    }
    return reply(200, body);
  }

  const activityMatch = ACTIVITY_PATH.exec(path);
  if (method === 'GET' && activityMatch) {
    if (!hasActivityScope(token)) return reply(401, FAULTS.missingActivityScope);
    const activity = ctx.store.activities.get(Number(activityMatch[1]));
    // Another athlete's, deleted, still processing, or "Only You" without activity:read_all: not found.
    if (!activity || activity.athleteId !== token.athleteId || !ctx.store.isVisible(activity, token.scopes.has('activity:read_all'), now)) {
      return notFound();
    }
    return reply(200, detailJson(activity));
  }

  return reply(404, FAULTS.routeNotFound);
}

async function pushSubscriptions(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL, headers: Record<string, string>): Promise<number> {
  const reply = (status: number, body: string) => {
    sendJson(res, status, body, headers);
    return status;
  };
  const params = await readParams(req, url);
  if (params.client_id !== ctx.options.clientId) return reply(400, FAULTS.badClientId);
  if (params.client_secret !== ctx.options.clientSecret) return reply(400, FAULTS.badClientSecret);
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const current = ctx.webhooks.subscription;

  if (path === '/api/v3/push_subscriptions' && method === 'GET') return reply(200, JSON.stringify(current ? [current] : []));

  if (path === '/api/v3/push_subscriptions' && method === 'POST') {
    if (current) return reply(400, FAULTS.subscriptionExists);
    const callbackUrl = params.callback_url ?? '';
    const verifyToken = params.verify_token ?? '';
    if (!callbackUrl || callbackUrl.length > 255) return reply(400, badParameter('PushSubscription', 'callback url'));
    if (!(await handshake(callbackUrl, verifyToken, ctx.options.handshakeTimeoutMs))) return reply(400, FAULTS.callbackFailed);
    // A concurrent create may have won while the handshake ran.
    if (ctx.webhooks.subscription) return reply(400, FAULTS.subscriptionExists);
    const nowIso = new Date(ctx.clock.now()).toISOString();
    const subscription: PushSubscription = {
      id: ctx.store.nextSubscriptionId(),
      resource_state: 2,
      application_id: Number(ctx.options.clientId),
      callback_url: callbackUrl,
      created_at: nowIso,
      updated_at: nowIso,
    };
    ctx.webhooks.subscription = subscription;
    return reply(201, JSON.stringify(subscription));
  }

  const match = SUBSCRIPTION_PATH.exec(path);
  if (match && method === 'DELETE') {
    if (!current || current.id !== Number(match[1])) return reply(404, FAULTS.subscriptionNotFound);
    ctx.webhooks.subscription = undefined;
    sendEmpty(res, 204, headers);
    return 204;
  }
  return reply(404, FAULTS.routeNotFound);
}

/** Strava's validation GET: the callback must answer 200 within the timeout echoing hub.challenge as JSON. */
async function handshake(callbackUrl: string, verifyToken: string, timeoutMs: number): Promise<boolean> {
  let target: URL;
  try {
    target = new URL(callbackUrl);
  } catch {
    return false;
  }
  const challenge = randomBytes(12).toString('base64url');
  target.searchParams.set('hub.mode', 'subscribe');
  target.searchParams.set('hub.challenge', challenge);
  target.searchParams.set('hub.verify_token', verifyToken);
  try {
    const response = await fetch(target, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    const text = await response.text();
    if (response.status !== 200) return false;
    const body: unknown = JSON.parse(text);
    return typeof body === 'object' && body !== null && (body as Record<string, unknown>)['hub.challenge'] === challenge;
  } catch {
    return false;
  }
}
